import { isDeepStrictEqual } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { byId, flavor, MotiaClient } from './helpers/motia-clients.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { GroupMirror, type Item, killGateways, launchGateway, type LogFrame, runUntilExit } from './helpers/redis-gateways.ts'
import { freePort, TestRedis } from './helpers/redis-server.ts'
import { epochOf, sseRead } from './helpers/sse.ts'

/**
 * Gateways on a Redis that goes away and comes back (with its data, or empty), and gateways that must refuse
 * to start. The gateways run in-process here (the outage is Redis's, not theirs); Redis is this file's own
 * redis-server, with an AOF fsynced on every write, so a crash loses nothing it acknowledged.
 */

let redis: TestRedis
beforeAll(async () => {
  redis = await TestRedis.start({ persistent: true })
})
afterAll(async () => {
  await killGateways()
  await redis?.close()
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

let prefixes = 0
async function gateways(n: number): Promise<TestGateway[]> {
  const prefix = `outage-${++prefixes}:`
  const started = await Promise.all(Array.from({ length: n }, () => startGateway({ redis: { url: redis.url, prefix } })))
  for (const gw of started) cleanups.push(() => gw.close())
  return started
}

const readyz = async (gw: TestGateway) => (await rest(gw.url, 'GET', '/readyz')).status

const mirrorOf = (name: string, frames: LogFrame[]) => {
  const mirror = new GroupMirror(name)
  for (const frame of frames) mirror.frame(frame)
  return mirror
}

describe('Redis outage', () => {
  it('stopped and restarted: 503 at once while down, not ready, nothing acknowledged lost, subscribers stay and re-sync', async () => {
    const [a, b] = await gateways(2) as [TestGateway, TestGateway]
    const group = 'outage'
    const ws = await rawClient(a.wsUrl)
    cleanups.push(() => ws.close())
    ws.join('chat', group)
    const sse = await sseRead(`${b.url}/streams/chat/${group}`)
    cleanups.push(sse.close)
    const browser = new MotiaClient(flavor('@motiadev/stream-client-browser 0.17'), b.wsUrl)
    cleanups.push(() => browser.close({ force: true }))
    const watched = browser.group('chat', group)
    await browser.synced()
    await until(() => ws.frames.length === 1 && sse.messages.length === 1, 'the syncs')

    const acknowledged: string[] = []
    for (let i = 0; i < 10; i++) {
      const { status } = await rest((i % 2 ? a : b).url, 'PUT', `/streams/chat/${group}/ok-${i}`, { i })
      expect(status).toBe(201)
      acknowledged.push(`ok-${i}`)
    }
    await until(() => ws.frames.length === 11 && sse.messages.length === 11, 'the writes at the subscribers')

    await redis.stop('SIGKILL')
    await until(async () => (await readyz(a)) === 503 && (await readyz(b)) === 503, 'both gateways not ready')
    for (const [method, path, body] of [
      ['PUT', `/streams/chat/${group}/refused`, { i: -1 }],
      ['DELETE', `/streams/chat/${group}/ok-0`, undefined],
      ['POST', `/streams/chat/${group}/events`, { type: 'refused' }],
      ['GET', `/streams/chat/${group}/ok-0`, undefined],
      ['GET', `/streams/chat/${group}`, undefined],
    ] as const) {
      const started = Date.now()
      const response = await rest(a.url, method, path, body)
      expect(response.status, `${method} ${path}`).toBe(503)
      expect(response.body).toMatchObject({ code: 'UNAVAILABLE' })
      expect(Date.now() - started).toBeLessThan(500)
    }
    // A new subscription is refused with a clear error; the existing subscribers stay connected.
    const late = await rawClient(a.wsUrl)
    cleanups.push(() => late.close())
    late.join('chat', group)
    await until(() => late.frames.length === 1, 'the refusal')
    expect(late.frames[0]!.event).toMatchObject({ type: 'event', event: { type: 'error', data: { code: 'UNAVAILABLE' } } })
    expect(ws.ws.readyState).toBe(ws.ws.OPEN)
    expect(sse.ended).toBe(false)
    expect(browser.open).toBe(true)

    await redis.restart()
    await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 'both gateways ready again')
    // Redis came back under a new run id, so the epoch is new: every subscriber gets a fresh (reset) sync.
    await until(() => ws.frames.length === 12 && sse.messages.length === 12, 'a re-sync at every subscriber')
    expect(sse.messages[11]!.frame.event).toMatchObject({ type: 'sync', reset: true })
    expect(epochOf(sse.messages[11]!.id)).not.toBe(epochOf(sse.messages[10]!.id))
    const expected = acknowledged.map((id) => ({ id, i: Number(id.slice(3)) }))
    expect(byId(ws.frames[11]!.event.data as Item[])).toEqual(byId(expected))
    expect(byId(sse.messages[11]!.frame.event.data as Item[])).toEqual(byId(expected))

    expect((await rest(b.url, 'PUT', `/streams/chat/${group}/after`, { i: 99 })).status).toBe(201)
    await until(() => ws.frames.length === 13 && sse.messages.length === 13, 'a write after the restart')
    const all = byId([...expected, { id: 'after', i: 99 }])
    expect(byId((await rest(a.url, 'GET', `/streams/chat/${group}`)).body)).toEqual(all)
    await until(() => isDeepStrictEqual(byId(watched.state as Item[]), all), 'the Motia client in sync')
    for (const mirror of [mirrorOf('ws@A', ws.frames as LogFrame[]), mirrorOf('sse@B', sse.messages.map((m) => m.frame as LogFrame))]) {
      expect(mirror.problems, mirror.name).toEqual([])
      expect(mirror.state(), mirror.name).toEqual(all)
    }
  })

  it('restarted empty: a new epoch, subscribers re-sync to the empty state, old tokens reset, stamps keep growing', async () => {
    const [a, b] = await gateways(2) as [TestGateway, TestGateway]
    const group = 'empty'
    const ws = await rawClient(a.wsUrl)
    cleanups.push(() => ws.close())
    ws.join('chat', group)
    const sse = await sseRead(`${b.url}/streams/chat/${group}`)
    cleanups.push(sse.close)
    await until(() => ws.frames.length === 1 && sse.messages.length === 1, 'the syncs')
    for (let i = 0; i < 5; i++) await rest(a.url, 'PUT', `/streams/chat/${group}/x${i}`, { i })
    await until(() => ws.frames.length === 6 && sse.messages.length === 6, 'the writes')
    const oldToken = sse.messages[5]!.id!

    await redis.stop('SIGKILL')
    redis.wipe()
    await redis.restart()
    await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 'both gateways ready again')
    await until(() => ws.frames.length === 7 && sse.messages.length === 7, 'the re-sync')
    expect(ws.frames[6]!.event).toMatchObject({ type: 'sync', data: [] })
    expect(sse.messages[6]!.frame.event).toMatchObject({ type: 'sync', data: [], reset: true })
    expect(epochOf(sse.messages[6]!.id)).not.toBe(epochOf(oldToken))

    await rest(b.url, 'PUT', `/streams/chat/${group}/new`, { i: 1 })
    await until(() => ws.frames.length === 8 && sse.messages.length === 8, 'a write in the new epoch')
    for (const mirror of [mirrorOf('ws@A', ws.frames as LogFrame[]), mirrorOf('sse@B', sse.messages.map((m) => m.frame as LogFrame))]) {
      // Stamps never go back, even though Redis lost the group's clock.
      expect(mirror.problems, mirror.name).toEqual([])
      expect(mirror.state(), mirror.name).toEqual([{ id: 'new', i: 1 }])
    }

    // A token from before the empty restart cannot be honoured: a reset sync with the current state.
    const resumed = await sseRead(`${a.url}/streams/chat/${group}`, { 'last-event-id': oldToken })
    cleanups.push(resumed.close)
    await until(() => resumed.messages.length === 1, 'the reset sync')
    expect(resumed.messages[0]!.frame.event).toEqual({ type: 'sync', data: [{ id: 'new', i: 1 }], reset: true })
  })
})

describe('Redis at startup', () => {
  it('refuses an unreachable Redis with a clear message', async () => {
    const port = await freePort()
    const { code, stderr } = await runUntilExit(['--redis', `redis://127.0.0.1:${port}`])
    expect(code).toBe(1)
    expect(stderr).toMatch(new RegExp(`^streamgate: cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}/?: .*ECONNREFUSED`, 'm'))
  })

  it('refuses a Redis whose maxmemory-policy would evict stream state, and accepts a volatile-* one', async () => {
    const evicting = await TestRedis.start({ args: ['--maxmemory-policy', 'allkeys-lru'] })
    cleanups.push(() => evicting.close())
    const refused = await runUntilExit([], { STREAMGATE_REDIS_URL: evicting.url })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^streamgate: Redis at redis:\/\/127\.0\.0\.1:\d+\/? cannot hold stream state: Redis maxmemory-policy is allkeys-lru/m)
    expect(refused.stderr).toMatch(/noeviction/)

    await evicting.command('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru')
    const gateway = await launchGateway(['--redis', evicting.url])
    cleanups.push(() => gateway.kill())
    expect((await rest(gateway.url, 'PUT', '/streams/chat/g/x', { ok: true })).status).toBe(201)
  })
})
