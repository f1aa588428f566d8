import http2 from 'node:http2'
import net from 'node:net'
import { Code, ConnectError } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import * as grpc from '@grpc/grpc-js'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CONNECT_ES_TRANSPORTS, follow, grpcJsClient, hostPort, metric, streamClient, summary } from './helpers/connect-clients.ts'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { rawGrpcSubscribe } from './helpers/raw-grpc.ts'

let gw: TestGateway | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

const subscriptions = (url: string) => metric(url, 'streamgate_subscriptions', 'transport="connect"')

const RESUME_TRANSPORTS = Object.entries(CONNECT_ES_TRANSPORTS).filter(([name]) => /^gRPC \(|HTTP\/1.1 \(connect-node|gRPC-Web over fetch/.test(name))

describe('resume with resume_token', () => {
  let shared: TestGateway
  beforeAll(async () => {
    shared = await startGateway()
  })
  afterAll(() => shared?.close())

  it.each(RESUME_TRANSPORTS.map(([name, make], i) => ({ name, make, group: `resume-${i}` })))('$name: after a cut, exactly the missed events, then live ones', async ({ make, group }) => {
    const gw = shared
    const client = streamClient(make(gw.url))
    const at = { streamName: 'todo', groupId: group }
    await client.set({ ...at, id: 'a', data: { title: 'a0' } })

    const first = new AbortController()
    const before = follow(client.subscribe(at, { signal: first.signal }))
    await before.count(1, 'sync')
    await client.set({ ...at, id: 'a', data: { title: 'a1' } })
    await client.send({ ...at, type: 'tick' })
    await before.count(3, 'two live events')
    first.abort()
    await before.done
    await until(async () => (await subscriptions(gw.url)) === 0, 'the cut subscription released')

    // Missed while away: an update, a create, a custom event and a delete.
    await client.set({ ...at, id: 'a', data: { title: 'a2' } })
    await client.set({ ...at, id: 'b', data: { title: 'b0' } })
    await client.send({ ...at, id: 'b', type: 'poke' })
    await client.delete({ ...at, id: 'b' })

    const last = before.received.at(-1)!
    const second = new AbortController()
    const after = follow(client.subscribe({ ...at, resumeToken: last.resumeToken }, { signal: second.signal }))
    await after.count(4, 'the four missed events')
    await client.set({ ...at, id: 'a', data: { title: 'a3' } })
    await after.count(5, 'then a live one')

    const seen = [...before.received, ...after.received]
    // No gap, no duplicate: the sequence numbers run 1, 2, ... without a hole, and no sync after the cut.
    expect(seen.map((e) => Number(e.sequence))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(after.received.map((e) => e.event.case)).toEqual(['update', 'create', 'custom', 'delete', 'update'])
    expect(after.received.map(summary).map((e) => ('item' in e ? e.item?.title : e.type))).toEqual(['a2', 'b0', 'poke', 'b0', 'a3'])
    second.abort()
    await after.done
  })

  it('a stale, foreign-epoch, malformed or future token gets a fresh sync with reset = true', async () => {
    gw = await startGateway({ streams: [{ name: 'tiny', historySize: 2 }] })
    const client = streamClient(createGrpcTransport({ baseUrl: gw.url }))
    const at = { streamName: 'tiny', groupId: 'g' }
    const { resumeToken: early } = await client.set({ ...at, id: 'x', data: { n: 1 } })
    for (let n = 2; n <= 8; n++) await client.set({ ...at, id: 'x', data: { n } })
    const epoch = early.split('.')[0]!

    const tokens = {
      'trimmed from the history': early,
      'another epoch': `${epoch === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA'}.7`,
      malformed: 'not a token',
      'ahead of the log': `${epoch}.99`,
    }
    for (const [what, resumeToken] of Object.entries(tokens)) {
      const call = new AbortController()
      const events = follow(client.subscribe({ ...at, resumeToken }, { signal: call.signal }))
      await events.count(1, `the sync for a token ${what}`)
      expect(summary(events.received[0]!), what).toEqual({ kind: 'sync', id: '', sequence: 8, items: [{ id: 'x', n: 8 }], reset: true })
      expect(events.received[0]!.resumeToken).toBe(`${epoch}.8`)
      call.abort()
      await events.done
    }
    // A token the history still covers: no sync, only what followed it.
    const call = new AbortController()
    const events = follow(client.subscribe({ ...at, resumeToken: `${epoch}.7` }, { signal: call.signal }))
    await events.count(1)
    expect(summary(events.received[0]!)).toEqual({ kind: 'update', id: 'x', sequence: 8, item: { id: 'x', n: 8 } })
    call.abort()
    await events.done
  })
})

describe('deadlines and cancellation release the session', () => {
  let shared: TestGateway
  beforeAll(async () => {
    shared = await startGateway()
  })
  afterAll(() => shared?.close())

  it.each(Object.entries(CONNECT_ES_TRANSPORTS).map(([name, make]) => ({ name, make })))('$name: cancel, then a deadline', async ({ make }) => {
    const gw = shared
    const client = streamClient(make(gw.url))
    const call = new AbortController()
    const cancelled = follow(client.subscribe({ streamName: 'todo', groupId: 'cancel' }, { signal: call.signal }))
    await cancelled.count(1, 'sync')
    expect(await subscriptions(gw.url)).toBe(1)
    call.abort()
    await cancelled.done
    expect(cancelled.error?.code).toBe(Code.Canceled)
    await until(async () => (await subscriptions(gw.url)) === 0, 'subscription released after cancel')

    const timed = follow(client.subscribe({ streamName: 'todo', groupId: 'deadline' }, { timeoutMs: 300 }))
    await timed.count(1, 'sync')
    await until(async () => (await subscriptions(gw.url)) === 1, 'subscribed')
    await timed.done
    expect(timed.error?.code).toBe(Code.DeadlineExceeded)
    await until(async () => (await subscriptions(gw.url)) === 0, 'subscription released after the deadline')
    expect(await metric(gw.url, 'streamgate_connections', 'transport="connect"')).toBe(0)
  })

  it('@grpc/grpc-js: cancel and deadline', async () => {
    const gw = shared
    const client = grpcJsClient(hostPort(gw.url))
    try {
      const call = client.Subscribe!({ streamName: 'todo', groupId: 'cancel' }) as grpc.ClientReadableStream<unknown>
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve))
      call.on('error', () => {})
      await new Promise((resolve) => call.once('data', resolve))
      expect(await subscriptions(gw.url)).toBe(1)
      call.cancel()
      expect((await status).code).toBe(grpc.status.CANCELLED)
      await until(async () => (await subscriptions(gw.url)) === 0, 'released after cancel')

      const timed = client.Subscribe!({ streamName: 'todo', groupId: 'deadline' }, new grpc.Metadata(), { deadline: Date.now() + 300 }) as grpc.ClientReadableStream<unknown>
      const timedStatus = new Promise<grpc.StatusObject>((resolve) => timed.on('status', resolve))
      timed.on('error', () => {})
      timed.on('data', () => {})
      expect((await timedStatus).code).toBe(grpc.status.DEADLINE_EXCEEDED)
      await until(async () => (await subscriptions(gw.url)) === 0, 'released after the deadline')
    } finally {
      client.close()
    }
  })
})

describe('slow consumers', () => {
  /** Writes 20 kB items until the gateway cut a subscriber for its queue; the number written. */
  async function flood(url: string, at: { streamName: string; groupId: string }) {
    const writer = streamClient(createGrpcTransport({ baseUrl: url }))
    const text = 'x'.repeat(20_000)
    let written = 0
    while ((await metric(url, 'streamgate_queue_limit_closes_total', 'transport="connect"')) === 0) {
      if (written === 400) throw new Error('the slow subscriber was never cut')
      await writer.set({ ...at, id: `m${written++}`, data: { text } })
    }
    return written
  }

  it('a subscriber that stopped reading ends with RESOURCE_EXHAUSTED when it reads again; the others get every event', async () => {
    gw = await startGateway({ limits: { maxQueueBytes: 64 * 1024 }, connect: { slowConsumerGraceMs: 60_000 } })
    const at = { streamName: 'chat', groupId: 'firehose' }
    const slow = rawGrpcSubscribe(gw.url, at)
    slow.readUntil(1)
    const fastCall = new AbortController()
    const fast = follow(streamClient(createGrpcTransport({ baseUrl: gw.url })).subscribe(at, { signal: fastCall.signal }))
    try {
      await fast.count(1, 'fast sync')
      await until(() => slow.messages.length === 1, 'slow sync')
      await until(async () => (await subscriptions(gw!.url)) === 2, 'both subscribed')

      const written = await flood(gw.url, at)
      await until(async () => (await subscriptions(gw!.url)) === 1, 'the slow subscription released')
      await fast.count(1 + written, 'every event for the reader')
      expect(fast.received.slice(1).map((e) => e.id)).toEqual(Array.from({ length: written }, (_, i) => `m${i}`))

      // Reading again: what was in flight, in order, then the status.
      slow.readAll()
      const end = await slow.ended
      expect(end.grpcStatus).toBe(String(Code.ResourceExhausted))
      expect(decodeURIComponent(end.grpcMessage ?? '')).toMatch(/queue limit/)
      expect(slow.messages.slice(1).map((e) => e.id)).toEqual(Array.from({ length: slow.messages.length - 1 }, (_, i) => `m${i}`))
      expect(slow.messages.length).toBeLessThan(1 + written)
      expect(fast.ended).toBe(false)
    } finally {
      fastCall.abort()
      await fast.done
      slow.close()
    }
  })

  it('a subscriber that never reads again is reset with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED for gRPC clients)', async () => {
    gw = await startGateway({ limits: { maxQueueBytes: 64 * 1024 }, connect: { slowConsumerGraceMs: 0 } })
    const at = { streamName: 'chat', groupId: 'firehose' }
    const slow = rawGrpcSubscribe(gw.url, at)
    slow.readUntil(1)
    try {
      await until(async () => (await subscriptions(gw!.url)) === 1, 'subscribed')
      await flood(gw.url, at)
      expect((await slow.ended).rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
      expect(await subscriptions(gw.url)).toBe(0)
      await until(async () => (await metric(gw!.url, 'streamgate_connections', 'transport="connect"')) === 0, 'the call ended')
    } finally {
      slow.close()
    }
  })
})

describe('HTTP/2 keepalive', () => {
  it('pings HTTP/2 connections on long streams, and drops a peer that stopped answering', async () => {
    gw = await startGateway({ pingIntervalMs: 100 })
    const session = http2.connect(gw.url)
    let pings = 0
    session.on('ping', () => pings++)
    // A Connect-protocol Subscribe (JSON) on a raw HTTP/2 session.
    const json = Buffer.from(JSON.stringify({ streamName: 'todo', groupId: 'keepalive' }))
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json])
    envelope.writeUInt32BE(json.length, 1)
    const stream = session.request({ ':method': 'POST', ':path': '/streamgate.v1.StreamService/Subscribe', 'content-type': 'application/connect+json' })
    stream.end(envelope)
    let received = ''
    stream.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    await until(() => received.includes('"sync"'), 'the sync')
    await until(() => pings >= 3, 'three pings')
    expect(stream.closed).toBe(false)
    expect(await subscriptions(gw.url)).toBe(1)
    stream.close()
    session.close()

    // A peer that opened HTTP/2 and then went silent: its pings go unanswered and the gateway hangs up.
    const silent = net.connect(gw.port, '127.0.0.1')
    let closed = false
    silent.on('close', () => (closed = true))
    silent.on('error', () => {})
    silent.on('data', () => {})
    silent.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]))
    await until(() => closed, 'the silent peer dropped', 5000)
  })
})

describe('shutdown', () => {
  it('ends every open Subscribe with UNAVAILABLE, on every protocol', async () => {
    gw = await startGateway()
    const at = { streamName: 'todo', groupId: 'shutdown' }
    const streams = Object.entries(CONNECT_ES_TRANSPORTS).map(([name, make]) => ({ name, events: follow(streamClient(make(gw!.url)).subscribe(at)) }))
    const grpcClient = grpcJsClient(hostPort(gw.url))
    const grpcCall = grpcClient.Subscribe!(at) as grpc.ClientReadableStream<unknown>
    const grpcStatus = new Promise<grpc.StatusObject>((resolve) => grpcCall.on('status', resolve))
    grpcCall.on('error', () => {})
    grpcCall.on('data', () => {})
    for (const { events } of streams) await events.count(1, 'sync')
    await until(async () => (await subscriptions(gw!.url)) === streams.length + 1, 'all subscribed')

    await gw.close()
    gw = undefined
    // The gateway's own end of the stream, not a connection torn down after the grace period.
    for (const { name, events } of streams) {
      await events.done
      expect({ name, code: events.error?.code, message: events.error?.rawMessage }).toEqual({ name, code: Code.Unavailable, message: 'server shutting down - reconnect and resume' })
      expect(events.error).toBeInstanceOf(ConnectError)
    }
    expect(await grpcStatus).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'server shutting down - reconnect and resume' })
    grpcClient.close()
  })
})
