import { isDeepStrictEqual } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { rest, until } from './helpers/gateway.ts'
import { byId, catchUncaught, flavor, MotiaClient, prng } from './helpers/motia-clients.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { GroupMirror, type GatewayProcess, grpcFollower, type Item, killGateways, launchGateway, type LogFrame, sseFollower } from './helpers/redis-gateways.ts'
import { TestRedis } from './helpers/redis-server.ts'
import { seqOf, sseRead } from './helpers/sse.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

/**
 * Three `streamgate` processes on one Redis (started by this file on a free port), as a scaled-out deployment
 * runs them: subscribers of every transport on different instances, writes through all of them.
 */

const PREFIX = 'sg-instances:'
let redis: TestRedis
let A: GatewayProcess
let B: GatewayProcess
let C: GatewayProcess
beforeAll(async () => {
  redis = await TestRedis.start()
  ;[A, B, C] = await Promise.all([
    launchGateway(['--redis', redis.url, '--redis-prefix', PREFIX]),
    launchGateway(['--redis', redis.url, '--redis-prefix', PREFIX]),
    // The same settings from the environment.
    launchGateway([], { STREAMGATE_REDIS_URL: redis.url, STREAMGATE_REDIS_PREFIX: PREFIX }),
  ])
}, 60_000)
afterAll(async () => {
  await killGateways()
  await redis?.close()
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A group-level custom event written after everything else: a subscriber that has it has everything before. */
async function marker(gateway: GatewayProcess, group: string, type: string) {
  expect((await rest(gateway.url, 'POST', `/streams/chat/${group}/events`, { type, data: type })).status).toBe(202)
}
const isMarker = (type: string) => (event: unknown) => (event as { type?: string })?.type === type

async function stored(gateway: GatewayProcess, group: string): Promise<Item[]> {
  const { status, body } = await rest(gateway.url, 'GET', `/streams/chat/${group}`)
  expect(status).toBe(200)
  return byId(body as Item[])
}

/** Runs `workers` concurrent writers per instance, each doing `ops` random writes on a few items of the group. */
async function burst(group: string, seed: number, workers: number, ops: number) {
  const rand = prng(seed)
  const plan = [A, B, C].flatMap((gateway) =>
    Array.from({ length: workers }, () => Array.from({ length: ops }, () => ({ gateway, r: rand(), id: `item-${Math.floor(rand() * 8)}`, n: Math.floor(rand() * 1e6) }))),
  )
  await Promise.all(
    plan.map(async (steps) => {
      for (const { gateway, r, id, n } of steps) {
        const path = `/streams/chat/${group}/${id}`
        const { status } =
          r < 0.6
            ? await rest(gateway.url, 'PUT', path, { text: `t${n}`, n, via: gateway.port })
            : r < 0.8
              ? await rest(gateway.url, 'DELETE', path)
              : r < 0.9
                ? await rest(gateway.url, 'POST', `${path}/events`, { type: 'item-tick', data: n })
                : await rest(gateway.url, 'POST', `/streams/chat/${group}/events`, { type: 'group-tick', data: n })
        expect([200, 201, 202, 404]).toContain(status)
      }
    }),
  )
}

describe('Redis scale-out: three gateway processes on one Redis', () => {
  it('brings WebSocket, SSE and gRPC subscribers on different instances to the same state after concurrent bursts', async () => {
    const group = 'burst'
    const uncaught = catchUncaught()
    cleanups.push(() => expect(uncaught.dispose()).toEqual([]))
    const node = new MotiaClient(flavor('@motiadev/stream-client-node'), A.wsUrl)
    const browser = new MotiaClient(flavor('@motiadev/stream-client-browser 0.17'), C.wsUrl)
    cleanups.push(() => node.close(), () => browser.close())
    await until(() => node.open && browser.open, 'Motia clients connected')
    const nodeFrames = node.tap()
    const browserFrames = browser.tap()
    const nodeGroup = node.group('chat', group)
    const browserGroup = browser.group('chat', group)
    const nodeDone = nodeGroup.listen('done')
    const browserDone = browserGroup.listen('done')
    const raw = await rawClient(B.wsUrl)
    cleanups.push(() => raw.close())
    raw.join('chat', group)
    const sseOnB = sseFollower(`${B.url}/streams/chat/${group}`, 'sse@B')
    const sseOnA = sseFollower(`${A.url}/streams/chat/${group}`, 'sse@A')
    cleanups.push(sseOnB.close, sseOnA.close)
    const grpc = grpcFollower(C.url, 'chat', group, 'grpc@C')
    cleanups.push(() => grpc.close())
    await node.synced()
    await browser.synced()
    await until(() => raw.frames.length > 0 && sseOnA.mirror.syncs && sseOnB.mirror.syncs && grpc.mirror.syncs, 'every subscriber synced')

    await burst(group, 6, 4, 30)
    await marker(B, group, 'done')
    const wsMirror = () => {
      const mirror = new GroupMirror('ws@B')
      for (const frame of raw.frames) mirror.frame(frame as LogFrame)
      return mirror
    }
    await until(
      () =>
        nodeDone.length && browserDone.length && wsMirror().sawEvent(isMarker('done')) && sseOnA.mirror.sawEvent(isMarker('done')) && sseOnB.mirror.sawEvent(isMarker('done')) && grpc.mirror.sawEvent(isMarker('done')),
      'the final marker at every subscriber',
    )

    const expected = await stored(C, group)
    expect(expected.length).toBeGreaterThan(0)
    expect(await stored(A, group)).toEqual(expected)
    expect(byId(nodeGroup.state as Item[])).toEqual(expected)
    expect(byId(browserGroup.state as Item[])).toEqual(expected)
    const mirrors = [wsMirror(), sseOnA.mirror, sseOnB.mirror, grpc.mirror]
    for (const [name, frames] of [['node@A', nodeFrames], ['browser@C', browserFrames]] as const) {
      const mirror = new GroupMirror(name)
      for (const frame of frames) mirror.frame(frame as LogFrame)
      mirrors.push(mirror)
    }
    for (const mirror of mirrors) {
      expect(mirror.problems, mirror.name).toEqual([])
      expect(mirror.state(), mirror.name).toEqual(expected)
      expect(mirror.syncs, mirror.name).toBe(1)
      // Every subscriber got the same log: the same sequence of records, each exactly once.
      expect(mirror.kinds, mirror.name).toEqual(mirrors[0]!.kinds)
    }
    expect(grpc.error).toBeUndefined()
  })

  it('gives subscribers that join (and leave) during a burst on other instances one sync, then every change once', async () => {
    const group = 'join-burst'
    const writing = burst(group, 11, 2, 60)
    let writesDone = false
    void writing.then(() => (writesDone = true))
    // On C subscribers pile up; on B each one is alone, so every join starts following the group afresh and
    // every leave stops following it.
    const stayed: Array<Awaited<ReturnType<typeof rawClient>>> = []
    const churned: Array<Awaited<ReturnType<typeof rawClient>>> = []
    while (!writesDone) {
      const staying = await rawClient(C.wsUrl)
      cleanups.push(() => staying.close())
      staying.join('chat', group)
      stayed.push(staying)
      const passing = await rawClient(B.wsUrl)
      passing.join('chat', group)
      await until(() => passing.frames.length > 0, 'a sync on B')
      await new Promise((r) => setTimeout(r, 5))
      passing.close()
      await passing.closed
      churned.push(passing)
    }
    await writing
    const last = await rawClient(B.wsUrl)
    cleanups.push(() => last.close())
    last.join('chat', group)
    const clients = [...stayed, last]
    // A custom event reaches the subscribers that are live when it is written (a sync does not carry it).
    await until(() => clients.every((c) => c.frames.length > 0), 'every sync')
    await marker(A, group, 'done')
    await until(() => clients.every((c) => c.frames.some((f) => f.event.event?.type === 'done')), 'the marker at every subscriber')
    const expected = await stored(B, group)
    expect(stayed.length).toBeGreaterThan(3)
    for (const [i, client] of [...clients, ...churned].entries()) {
      const mirror = new GroupMirror(`subscriber ${i}`)
      for (const frame of client.frames) mirror.frame(frame as LogFrame)
      expect(mirror.problems).toEqual([])
      expect(mirror.syncs).toBe(1)
      if (clients.includes(client)) expect(mirror.state()).toEqual(expected)
    }
  })

  it('creates an item exactly once when two instances race to create it', async () => {
    const group = 'race'
    const raw = await rawClient(C.wsUrl)
    cleanups.push(() => raw.close())
    raw.join('chat', group)
    await until(() => raw.frames.length === 1, 'the sync')
    for (let i = 0; i < 30; i++) {
      const results = await Promise.all([A, B].map((gateway) => rest(gateway.url, 'PUT', `/streams/chat/${group}/r${i}`, { via: gateway.port })))
      expect(results.map((r) => r.status).sort()).toEqual([200, 201])
    }
    await marker(A, group, 'done')
    await until(() => raw.frames.some((f) => f.event.event?.type === 'done'), 'the marker')
    const mirror = new GroupMirror('ws@C')
    for (const frame of raw.frames) mirror.frame(frame as LogFrame)
    expect(mirror.problems).toEqual([])
    for (let i = 0; i < 30; i++) expect(mirror.kinds.filter((k) => k.id === `r${i}`).map((k) => k.kind)).toEqual(['create', 'update'])
  })

  it('resumes an SSE stream on instance B from a token of instance A: no gap, no duplicate, no sync', async () => {
    const group = 'resume-sse'
    const first = await sseRead(`${A.url}/streams/chat/${group}`)
    cleanups.push(first.close)
    for (let i = 0; i < 3; i++) await rest(A.url, 'PUT', `/streams/chat/${group}/i${i}`, { v: i })
    await until(() => first.messages.length === 4, 'the sync and 3 changes on A')
    const token = first.messages.at(-1)!.id!
    first.close()

    for (let i = 0; i < 4; i++) await rest(C.url, 'PUT', `/streams/chat/${group}/i${i}`, { v: 10 + i })
    const resumed = await sseRead(`${B.url}/streams/chat/${group}`, { 'last-event-id': token })
    cleanups.push(resumed.close)
    await until(() => resumed.messages.length === 4, 'the 4 missed changes on B')
    await rest(A.url, 'DELETE', `/streams/chat/${group}/i0`)
    await until(() => resumed.messages.length === 5, 'the live change after them')
    expect(resumed.messages.map((m) => m.frame.event.type)).toEqual(['update', 'update', 'update', 'create', 'delete'])
    expect(resumed.messages.map((m) => seqOf(m.id))).toEqual([1, 2, 3, 4, 5].map((n) => seqOf(token) + n))
    expect(resumed.messages.map((m) => (m.frame.event.data as Item).v)).toEqual([10, 11, 12, 13, 10])
  })

  it('resumes a WebSocket subscription on instance B from a resumeToken of instance A', async () => {
    const group = 'resume-ws'
    const first = await rawClient(A.wsUrl)
    cleanups.push(() => first.close())
    first.join('chat', group)
    await until(() => first.frames.length === 1, 'the sync')
    await rest(B.url, 'PUT', `/streams/chat/${group}/x`, { v: 1 })
    await until(() => first.frames.length === 2, 'the create')
    const token = (first.frames.at(-1) as LogFrame).resumeToken!
    first.close()
    await rest(C.url, 'PUT', `/streams/chat/${group}/x`, { v: 2 })
    await rest(C.url, 'PUT', `/streams/chat/${group}/y`, { v: 3 })

    const resumed = await rawClient(B.wsUrl)
    cleanups.push(() => resumed.close())
    resumed.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: group, subscriptionId: 's', resumeToken: token } }))
    await until(() => resumed.frames.length === 2, 'the two missed changes')
    const frames = resumed.frames as LogFrame[]
    expect(frames.map((f) => [f.event.type, f.id, (f.event.data as Item).v])).toEqual([
      ['update', 'x', 2],
      ['create', 'y', 3],
    ])
    expect(frames.map((f) => f.sequence)).toEqual([seqOf(token) + 1, seqOf(token) + 2])
  })

  // Kills instance A: keep this test last in the file.
  it('keeps serving after kill -9 of one instance; its clients re-sync through the load balancer elsewhere', async () => {
    const group = 'failover'
    const balancer = await TcpProxy.start([A.port, B.port, C.port])
    cleanups.push(() => balancer.close())
    const viaBalancer = `127.0.0.1:${balancer.port}`
    const browser = new MotiaClient(flavor('@motiadev/stream-client-browser 0.17'), `ws://${viaBalancer}`)
    cleanups.push(() => browser.close({ force: true }))
    const watched = browser.group('chat', group)
    const browserMarkers = watched.listen('mark')
    const sse = sseFollower(`http://${viaBalancer}/streams/chat/${group}`, 'sse via balancer')
    cleanups.push(sse.close)
    const direct = await rawClient(C.wsUrl)
    cleanups.push(() => direct.close())
    direct.join('chat', group)
    await browser.synced()
    await until(() => sse.mirror.syncs === 1 && direct.frames.length === 1, 'SSE and WebSocket synced')
    expect(balancer.routed).toEqual([0, 0])

    for (let i = 0; i < 5; i++) await rest(B.url, 'PUT', `/streams/chat/${group}/before-${i}`, { i })
    await marker(B, group, 'mark')
    await until(() => browserMarkers.length === 1 && sse.mirror.sawEvent(isMarker('mark')), 'the first writes, received through A')

    await A.kill('SIGKILL')
    // The other instances keep serving, reads and writes alike, while A's clients come back.
    for (let i = 0; i < 10; i++) {
      const gateway = i % 2 ? B : C
      expect((await rest(gateway.url, 'PUT', `/streams/chat/${group}/after-${i}`, { i })).status).toBe(201)
    }
    expect((await rest(B.url, 'DELETE', `/streams/chat/${group}/before-0`)).status).toBe(200)
    for (const gateway of [B, C]) expect((await rest(gateway.url, 'GET', '/readyz')).status).toBe(200)
    await marker(C, group, 'mark')

    const expected = await stored(B, group)
    expect(expected).toHaveLength(14)
    // The Motia client reconnects (after its fixed 2 s) through the balancer to a live instance and re-syncs;
    // the SSE client resumes there with Last-Event-ID and gets what it missed, the marker included.
    await until(() => isDeepStrictEqual(byId(watched.state as Item[]), expected) && sse.mirror.events.filter(isMarker('mark')).length === 2, 'the clients back, through another instance', 15_000)
    // SSE resumed with Last-Event-ID on another instance: the missed records, no sync, no gap, no duplicate.
    expect(sse.opens).toBe(2)
    expect(sse.mirror.syncs).toBe(1)
    expect(sse.mirror.problems).toEqual([])
    expect(sse.mirror.state()).toEqual(expected)
    expect(balancer.routed).toEqual([0, 0, 1, 1])
    const mirror = new GroupMirror('ws@C')
    for (const frame of direct.frames) mirror.frame(frame as LogFrame)
    expect(mirror.problems).toEqual([])
    expect(mirror.state()).toEqual(expected)
  }, 30_000)
})
