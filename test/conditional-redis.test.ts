import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { rest, until } from './helpers/gateway.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { type GatewayProcess, grpcFollower, killGateways, launchGateway, sseFollower } from './helpers/redis-gateways.ts'
import { TestRedis } from './helpers/redis-server.ts'

/**
 * Conditional writes, idempotency keys and expiry with three `streamgate` processes on one Redis: the
 * decisions are the Redis scripts', so no instance can disagree with another.
 */

const PREFIX = 'sg-conditional:'
let redis: TestRedis
let A: GatewayProcess
let B: GatewayProcess
let C: GatewayProcess
beforeAll(async () => {
  redis = await TestRedis.start()
  const launch = () => launchGateway(['--redis', redis.url, '--redis-prefix', PREFIX])
  ;[A, B, C] = await Promise.all([launch(), launch(), launch()])
}, 60_000)
afterAll(async () => {
  await killGateways()
  await redis?.close()
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const instances = () => [A, B, C]
const at = (n: number) => instances()[n % 3]!

/** Where the group's log stands, read as the ETag of a write after everything else. */
async function entries(group: string) {
  const { headers } = await rest(A.url, 'PUT', `/streams/chat/${group}/probe`, { probe: true })
  return Number(JSON.parse(headers.get('etag')!)) - 1
}

describe('several instances on one Redis', () => {
  it('of 30 concurrent If-None-Match: * creates through three instances exactly one wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, n) => rest(at(n).url, 'PUT', '/streams/chat/race/x', { n }, { 'if-none-match': '*' })),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 412)).toHaveLength(29)
    for (const r of results) if (r.status === 412) expect(r.body.code).toBe('FAILED_PRECONDITION')
    const winner = results.find((r) => r.status === 201)!
    expect((await rest(C.url, 'GET', '/streams/chat/race/x')).body).toEqual(winner.body)
    expect(await entries('race')).toBe(1)
  })

  it('20 concurrent read-modify-write loops with If-Match on a counter end exact', async () => {
    await rest(A.url, 'PUT', '/streams/chat/counter/c', { n: 0 })
    const bumps = 5
    let conflicts = 0
    await Promise.all(
      Array.from({ length: 20 }, async (_, worker) => {
        const gateway = at(worker)
        for (let done = 0; done < bumps; ) {
          const read = await rest(gateway.url, 'GET', '/streams/chat/counter/c')
          const write = await rest(gateway.url, 'PUT', '/streams/chat/counter/c', { n: read.body.n + 1 }, { 'if-match': read.headers.get('etag')! })
          if (write.status === 412) conflicts += 1
          else if (write.status === 200) done += 1
          else throw new Error(`unexpected ${write.status}: ${JSON.stringify(write.body)}`)
        }
      }),
    )
    expect((await rest(B.url, 'GET', '/streams/chat/counter/c')).body.n).toBe(20 * bumps)
    expect(conflicts).toBeGreaterThan(0)
    expect(await entries('counter')).toBe(1 + 20 * bumps)
  })

  it('one Idempotency-Key retried on every instance: one log entry, the same answer', async () => {
    const key = { 'idempotency-key': 'order-17' }
    const answers = await Promise.all(instances().flatMap((g) => [0, 1].map(() => rest(g.url, 'PUT', '/streams/chat/idem/order', { total: 17 }, key))))
    expect(new Set(answers.map((a) => `${a.status} ${a.headers.get('etag')} ${JSON.stringify(a.body)}`)).size).toBe(1)
    expect(answers[0]!.status).toBe(201)
    const events = await Promise.all(instances().map((g) => rest(g.url, 'POST', '/streams/chat/idem/events', { type: 'paid' }, { 'idempotency-key': 'paid-17' })))
    expect(new Set(events.map((e) => e.body.timestamp)).size).toBe(1)
    expect((await rest(C.url, 'PUT', '/streams/chat/idem/order', { total: 18 }, key)).status).toBe(422)
    expect(await entries('idem')).toBe(2)
  })

  it('an item with a ttl expires once: every subscriber, on every instance and transport, gets one delete', async () => {
    const ws = await rawClient(A.wsUrl)
    cleanups.push(() => ws.close())
    ws.join('chat', 'ttl')
    const sse = sseFollower(`${B.url}/streams/chat/ttl`, 'sse')
    cleanups.push(() => sse.close())
    const grpc = grpcFollower(C.url, 'chat', 'ttl', 'grpc')
    cleanups.push(() => grpc.close())
    await until(() => ws.frames.length === 1 && sse.mirror.syncs === 1 && grpc.mirror.syncs === 1, 'three syncs')
    const written = Date.now()
    expect((await rest(B.url, 'PUT', '/streams/chat/ttl/a?ttl=1', { n: 1 })).status).toBe(201)
    const deletes = () => [ws.frames.filter((f) => f.event.type === 'delete').length, ...[sse, grpc].map((f) => f.mirror.kinds.filter((k) => k.kind === 'delete').length)]
    await until(() => deletes().every((n) => n >= 1), 'a delete on every subscriber', 5000)
    expect(Date.now() - written).toBeLessThan(2500)
    // Every instance sweeps; a second delete would arrive within a sweep or two.
    await new Promise((r) => setTimeout(r, 1000))
    expect(deletes()).toEqual([1, 1, 1])
    expect([...sse.mirror.problems, ...grpc.mirror.problems]).toEqual([])
    for (const g of instances()) expect((await rest(g.url, 'GET', '/streams/chat/ttl/a')).status).toBe(404)
  })
})
