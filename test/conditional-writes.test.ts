import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../gateway/model/errors.ts'
import { follow, metric, streamClient, type StreamClient } from './helpers/connect-clients.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { type SseMessage, sseRead } from './helpers/sse.ts'

/**
 * Conditional writes, idempotency keys and expiry (design.md) on one gateway, through REST, Connect and the
 * in-process API: the same rules and the same refusals on each.
 */

let gateway: TestGateway
let client: StreamClient
beforeAll(async () => {
  gateway = await startGateway({ idempotencyTtlSeconds: 60 })
  client = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '1.1' }))
})
afterAll(() => gateway?.close())

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const path = (group: string, id = 'a') => `/streams/chat/${group}/${id}`

async function connectRefusal(work: Promise<unknown>) {
  const error = await work.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  )
  expect(error, 'the call was refused').toBeDefined()
  return error!
}

/** The group's log position: how many records were written. */
const position = (group: string) => gateway.server.gateway.store.snapshot('chat', group).then((s) => s.seq)

describe('REST', () => {
  it('an item carries its version as ETag: on GET and on every PUT', async () => {
    const created = await rest(gateway.url, 'PUT', path('etag'), { n: 1 })
    expect(created.status).toBe(201)
    expect(created.headers.get('etag')).toBe('"1"')
    await rest(gateway.url, 'POST', '/streams/chat/etag/events', { type: 'between' })
    const updated = await rest(gateway.url, 'PUT', path('etag'), { n: 2 })
    expect(updated.headers.get('etag')).toBe('"3"')
    const read = await rest(gateway.url, 'GET', path('etag'))
    expect(read.headers.get('etag')).toBe('"3"')
    expect(read.body).toEqual({ id: 'a', n: 2 })
  })

  it('If-None-Match: * creates once; the second is 412 FAILED_PRECONDITION and sends nothing', async () => {
    const ws = await rawClient(gateway.wsUrl)
    cleanups.push(() => ws.close())
    ws.join('chat', 'create-only')
    await until(() => ws.frames.length === 1, 'the sync')
    const first = await rest(gateway.url, 'PUT', path('create-only'), { who: 'first' }, { 'if-none-match': '*' })
    expect(first.status).toBe(201)
    const second = await rest(gateway.url, 'PUT', path('create-only'), { who: 'second' }, { 'if-none-match': '*' })
    expect(second.status).toBe(412)
    expect(second.body).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('version 1') })
    expect((await rest(gateway.url, 'GET', path('create-only'))).body).toEqual({ id: 'a', who: 'first' })
    await rest(gateway.url, 'POST', '/streams/chat/create-only/events', { type: 'marker' })
    await until(() => ws.frames.some((f) => f.event.type === 'event'), 'the marker')
    expect(ws.frames.map((f) => f.event.type)).toEqual(['sync', 'create', 'event'])
  })

  it('If-Match writes only at the version: a stale ETag is 412 for PUT and DELETE; a current one writes', async () => {
    const { headers } = await rest(gateway.url, 'PUT', path('match'), { n: 1 })
    const v1 = headers.get('etag')!
    const v2 = (await rest(gateway.url, 'PUT', path('match'), { n: 2 }, { 'if-match': v1 })).headers.get('etag')!
    expect(v2).toBe('"2"')
    const stale = await rest(gateway.url, 'PUT', path('match'), { n: 3 }, { 'if-match': v1 })
    expect(stale.status).toBe(412)
    expect(stale.body.code).toBe('FAILED_PRECONDITION')
    expect((await rest(gateway.url, 'DELETE', path('match'), undefined, { 'if-match': v1 })).status).toBe(412)
    expect((await rest(gateway.url, 'PUT', path('match', 'missing'), { n: 1 }, { 'if-match': '"1"' })).status).toBe(412)
    expect(await position('match')).toBe(2)
    const deleted = await rest(gateway.url, 'DELETE', path('match'), undefined, { 'if-match': v2 })
    expect(deleted).toMatchObject({ status: 200, body: { id: 'a', n: 2 } })
  })

  it('malformed conditions are 400 and write nothing', async () => {
    const malformed: Array<Record<string, string>> = [{ 'if-match': '12' }, { 'if-match': '*' }, { 'if-match': '"1", "2"' }, { 'if-none-match': '"1"' }]
    for (const headers of malformed) {
      const refused = await rest(gateway.url, 'PUT', path('malformed'), { n: 1 }, headers)
      expect(refused.status, JSON.stringify(headers)).toBe(400)
      expect(refused.body.code).toBe('INVALID_ARGUMENT')
    }
    for (const ttl of ['0', '-1', '1.5', 'x']) expect((await rest(gateway.url, 'PUT', `${path('malformed')}?ttl=${ttl}`, { n: 1 })).status, ttl).toBe(400)
    const both = await rest(gateway.url, 'PUT', path('malformed'), { n: 1 }, { 'if-match': '"1"', 'if-none-match': '*' })
    expect(both.status).toBe(400)
    expect(await position('malformed')).toBe(0)
  })

  it('an Idempotency-Key retry gets the first answer and writes nothing; the key with another request is 422', async () => {
    const key = { 'idempotency-key': 'put-1' }
    const first = await rest(gateway.url, 'PUT', path('idem'), { n: 1 }, key)
    const retry = await rest(gateway.url, 'PUT', path('idem'), { n: 1 }, key)
    expect({ status: retry.status, body: retry.body, etag: retry.headers.get('etag') }).toEqual({ status: 201, body: first.body, etag: '"1"' })
    const other = await rest(gateway.url, 'PUT', path('idem'), { n: 2 }, key)
    expect(other.status).toBe(422)
    expect(other.body).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'IDEMPOTENCY_KEY_REUSED' })
    // The same key on another method is another request too.
    expect((await rest(gateway.url, 'DELETE', path('idem'), undefined, key)).status).toBe(422)

    const event = { 'idempotency-key': 'event-1' }
    const sent = await rest(gateway.url, 'POST', '/streams/chat/idem/events', { type: 'once', data: 1 }, event)
    const resent = await rest(gateway.url, 'POST', '/streams/chat/idem/events', { type: 'once', data: 1 }, event)
    expect(resent).toMatchObject({ status: 202, body: sent.body })
    expect((await rest(gateway.url, 'POST', '/streams/chat/idem/events', { type: 'once', data: 2 }, event)).status).toBe(422)

    const del = { 'idempotency-key': 'delete-1' }
    const removed = await rest(gateway.url, 'DELETE', path('idem'), undefined, del)
    const again = await rest(gateway.url, 'DELETE', path('idem'), undefined, del)
    expect(again).toMatchObject({ status: 200, body: removed.body })
    expect(await position('idem')).toBe(3)
  })

  it('?ttl= expires the item through the log: subscribers get a delete; a PUT without ttl cancels it', async () => {
    const ws = await rawClient(gateway.wsUrl)
    cleanups.push(() => ws.close())
    ws.join('chat', 'ttl')
    await until(() => ws.frames.length === 1, 'the sync')
    const before = await metric(gateway.url, 'streamgate_expirations_total')
    const written = Date.now()
    expect((await rest(gateway.url, 'PUT', `${path('ttl', 'gone')}?ttl=1`, { n: 1 })).status).toBe(201)
    expect((await rest(gateway.url, 'PUT', `${path('ttl', 'kept')}?ttl=1`, { n: 1 })).status).toBe(201)
    expect((await rest(gateway.url, 'PUT', path('ttl', 'kept'), { n: 2 })).status).toBe(200)
    const deleted = await until(() => ws.frames.find((f) => f.event.type === 'delete'), 'the delete frame', 5000)
    expect(Date.now() - written).toBeLessThan(2000)
    expect(deleted.id).toBe('gone')
    expect(deleted.event.data).toEqual({ id: 'gone', n: 1 })
    expect((await rest(gateway.url, 'GET', path('ttl', 'gone'))).status).toBe(404)
    await new Promise((r) => setTimeout(r, 700))
    expect((await rest(gateway.url, 'GET', path('ttl', 'kept'))).body).toEqual({ id: 'kept', n: 2 })
    expect(ws.frames.filter((f) => f.event.type === 'delete')).toHaveLength(1)
    expect(await metric(gateway.url, 'streamgate_expirations_total')).toBe(before + 1)
  })
})

describe('Connect', () => {
  it('Get carries the version; Set with if_version / if_absent refuses with FAILED_PRECONDITION', async () => {
    const set = await client.set({ streamName: 'chat', groupId: 'c-match', id: 'a', data: { n: 1 }, ifAbsent: true })
    expect(set.version).toBe(1n)
    expect((await client.get({ streamName: 'chat', groupId: 'c-match', id: 'a' })).version).toBe(1n)
    const again = await connectRefusal(client.set({ streamName: 'chat', groupId: 'c-match', id: 'a', data: { n: 2 }, ifAbsent: true }))
    expect(again.code).toBe(Code.FailedPrecondition)
    const stale = await connectRefusal(client.set({ streamName: 'chat', groupId: 'c-match', id: 'a', data: { n: 2 }, ifVersion: 7n }))
    expect(stale.code).toBe(Code.FailedPrecondition)
    const next = await client.set({ streamName: 'chat', groupId: 'c-match', id: 'a', data: { n: 2 }, ifVersion: 1n })
    expect(next.version).toBe(2n)
    expect((await connectRefusal(client.delete({ streamName: 'chat', groupId: 'c-match', id: 'a', ifVersion: 1n }))).code).toBe(Code.FailedPrecondition)
    expect((await client.delete({ streamName: 'chat', groupId: 'c-match', id: 'a', ifVersion: 2n })).item).toEqual({ id: 'a', n: 2 })
    expect(await position('c-match')).toBe(3)
  })

  it('idempotency_key: the retry gets the same answer; the key with another request is INVALID_ARGUMENT', async () => {
    const request = { streamName: 'chat', groupId: 'c-idem', id: 'a', data: { n: 1 }, idempotencyKey: 'k' }
    const first = await client.set(request)
    const retry = await client.set(request)
    expect(retry).toMatchObject({ version: first.version, resumeToken: first.resumeToken, timestamp: first.timestamp, created: true })
    const other = await connectRefusal(client.set({ ...request, data: { n: 2 } }))
    expect(other.code).toBe(Code.InvalidArgument)
    expect(other.metadata.get('streamgate-error-reason')).toBe('IDEMPOTENCY_KEY_REUSED')
    const sent = await client.send({ streamName: 'chat', groupId: 'c-idem', type: 't', idempotencyKey: 'e' })
    expect((await client.send({ streamName: 'chat', groupId: 'c-idem', type: 't', idempotencyKey: 'e' })).timestamp).toBe(sent.timestamp)
    expect(await position('c-idem')).toBe(2)
  })

  it('ttl_seconds: Subscribe gets the delete', async () => {
    const controller = new AbortController()
    const stream = follow(client.subscribe({ streamName: 'chat', groupId: 'c-ttl' }, { signal: controller.signal }))
    cleanups.push(() => controller.abort())
    await until(() => stream.received.length === 1, 'the sync')
    const written = Date.now()
    await client.set({ streamName: 'chat', groupId: 'c-ttl', id: 'a', data: { n: 1 }, ttlSeconds: 1 })
    const deleted = await until(() => stream.received.find((e) => e.event.case === 'delete'), 'the delete', 5000)
    // At most about a second late.
    expect(Date.now() - written).toBeLessThan(2000)
    expect(deleted.id).toBe('a')
    expect(stream.received.map((e) => e.event.case)).toEqual(['sync', 'create', 'delete'])
  })
})

describe('in-process', () => {
  it('set/delete take the same options; version() reads the version', async () => {
    const { chat } = gateway.server.streams
    await chat!.set('p', 'a', { n: 1 }, { ifAbsent: true })
    const version = await chat!.version('p', 'a')
    expect(version).toBe(1)
    await expect(chat!.set('p', 'a', { n: 2 }, { ifAbsent: true })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' })
    await expect(chat!.set('p', 'a', { n: 2 }, { ifVersion: 9 })).rejects.toBeInstanceOf(GatewayError)
    expect(await chat!.set('p', 'a', { n: 2 }, { ifVersion: version!, idempotencyKey: 'x' })).toMatchObject({ n: 2 })
    expect(await chat!.set('p', 'a', { n: 2 }, { ifVersion: version!, idempotencyKey: 'x' })).toMatchObject({ n: 2 })
    await expect(chat!.delete('p', 'a', { ifVersion: 1 })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' })
    expect(await chat!.delete('p', 'a', { ifVersion: 2 })).toMatchObject({ id: 'a', n: 2 })
    expect(await position('p')).toBe(3)
  })

  it('ttlSeconds expires the item; SSE subscribers get the delete too', async () => {
    const sse = await sseRead(`${gateway.url}/streams/chat/p-ttl`)
    cleanups.push(() => sse.close())
    await until(() => sse.messages.length === 1, 'the sync')
    const written = Date.now()
    await gateway.server.streams.chat!.set('p-ttl', 'a', { n: 1 }, { ttlSeconds: 1 })
    const types = () => sse.messages.map((m: SseMessage) => m.frame.event.type)
    await until(() => types().includes('delete'), 'the delete', 5000)
    expect(Date.now() - written).toBeLessThan(2000)
    expect(types()).toEqual(['sync', 'create', 'delete'])
  })
})

it('counts precondition failures', async () => {
  const before = await metric(gateway.url, 'streamgate_precondition_failures_total')
  await rest(gateway.url, 'PUT', path('count'), { n: 1 })
  await rest(gateway.url, 'PUT', path('count'), { n: 1 }, { 'if-none-match': '*' })
  expect(await metric(gateway.url, 'streamgate_precondition_failures_total')).toBe(before + 1)
})
