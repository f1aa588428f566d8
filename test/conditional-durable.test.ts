import { afterEach, describe, expect, it } from 'vitest'
import { CliGateway } from './helpers/cli-process.ts'
import { rest, until } from './helpers/gateway.ts'
import { rawClient } from './helpers/raw-ws.ts'

/** Idempotency keys and expiry times are durable state: they hold across a `kill -9` of the durable gateway. */

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

async function started(args: string[] = []) {
  const gw = await CliGateway.create({ args })
  cleanup.push(() => gw.close())
  await gw.start()
  return gw
}

describe('the durable store across a kill -9', () => {
  it('a retry of an Idempotency-Key after the restart gets the same answer and writes nothing', async () => {
    const gw = await started(['--idempotency-ttl', '3600'])
    const key = { 'idempotency-key': 'restart-1' }
    const first = await rest(gw.url, 'PUT', '/streams/chat/idem/a', { n: 1 }, key)
    const event = await rest(gw.url, 'POST', '/streams/chat/idem/events', { type: 'once' }, { 'idempotency-key': 'restart-2' })
    expect(first.status).toBe(201)
    await gw.restart()
    const retry = await rest(gw.url, 'PUT', '/streams/chat/idem/a', { n: 1 }, key)
    expect({ status: retry.status, etag: retry.headers.get('etag'), body: retry.body }).toEqual({ status: 201, etag: first.headers.get('etag'), body: first.body })
    expect((await rest(gw.url, 'POST', '/streams/chat/idem/events', { type: 'once' }, { 'idempotency-key': 'restart-2' })).body).toEqual(event.body)
    expect((await rest(gw.url, 'PUT', '/streams/chat/idem/a', { n: 2 }, key)).status).toBe(422)
    // Two entries before: the put and the event.
    expect((await rest(gw.url, 'PUT', '/streams/chat/idem/a', { n: 3 })).headers.get('etag')).toBe('"3"')
  })

  it('an item with a ttl expires after a restart, through the log', async () => {
    const gw = await started()
    expect((await rest(gw.url, 'PUT', '/streams/chat/ttl/a?ttl=5', { n: 1 })).status).toBe(201)
    expect((await rest(gw.url, 'PUT', '/streams/chat/ttl/b?ttl=5', { n: 1 })).status).toBe(201)
    expect((await rest(gw.url, 'PUT', '/streams/chat/ttl/b', { n: 2 })).status).toBe(200)
    const written = Date.now()
    // Well before the item's time (5 s), so the subscriber sees the expiry happen after the restart.
    await gw.restart()
    expect(Date.now() - written).toBeLessThan(4000)
    const ws = await rawClient(gw.wsUrl)
    cleanup.push(() => ws.close())
    ws.join('chat', 'ttl')
    const deleted = await until(() => ws.frames.find((f) => f.event.type === 'delete'), 'the delete frame', 10_000)
    expect(deleted.id).toBe('a')
    expect(Date.now() - written).toBeLessThan(5000 + 1500)
    expect((await rest(gw.url, 'GET', '/streams/chat/ttl')).body).toEqual([{ id: 'b', n: 2 }])
    // The expiry is gone with the item: a later restart deletes nothing again.
    await gw.restart()
    await new Promise((r) => setTimeout(r, 600))
    expect((await rest(gw.url, 'GET', '/streams/chat/ttl')).body).toEqual([{ id: 'b', n: 2 }])
  })
})
