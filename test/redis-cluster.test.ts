import calculateSlot from 'cluster-key-slot'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { clusterLayout } from '../gateway/store/redis-keys.ts'
import { rest, until } from './helpers/gateway.ts'
import { byId, prng } from './helpers/motia-clients.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { type ClusterNode, TestRedisCluster } from './helpers/redis-cluster.ts'
import { type GatewayProcess, GroupMirror, type Item, killGateways, launchGateway, type LogFrame, runUntilExit } from './helpers/redis-gateways.ts'

/**
 * Three `streamgate` processes on a Redis Cluster of three masters with a replica each (started by this file on
 * free ports), each given a different node as its `--redis` seed, a replica among them. Groups are chosen so
 * that every master holds some; slots move and a master dies under subscribers and concurrent writers.
 */

const PREFIX = 'sg-cluster:'
const slotOf = (group: string) => calculateSlot(clusterLayout(PREFIX)('chat', group).meta)

let cluster: TestRedisCluster
let A: GatewayProcess
let B: GatewayProcess
let C: GatewayProcess
beforeAll(async () => {
  cluster = await TestRedisCluster.start()
  const replica = (await cluster.nodes()).find((n) => !n.master)!
  const seeds = [cluster.url(0), `redis://127.0.0.1:${replica.port}`, cluster.url(1)]
  ;[A, B, C] = (await Promise.all(seeds.map((seed) => launchGateway(['--redis', seed, '--redis-prefix', PREFIX])))) as [GatewayProcess, GatewayProcess, GatewayProcess]
}, 90_000)
afterAll(async () => {
  await killGateways()
  await cluster?.close()
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

let names = 0
/** `perMaster` fresh group names for each master in `masters`, each in a slot of its own. */
function groupsOn(masters: ClusterNode[], perMaster: number, tag: string): string[] {
  const groups: string[] = []
  for (const master of masters) {
    const slots = new Set<number>()
    while (slots.size < perMaster) {
      const group = `${tag}-${++names}`
      const slot = slotOf(group)
      if (!master.slots.includes(slot) || slots.has(slot)) continue
      slots.add(slot)
      groups.push(group)
    }
  }
  return groups
}

/** WebSocket subscribers of every group, one per gateway given. */
async function subscribers(gateways: GatewayProcess[], groups: string[]) {
  const clients = await Promise.all(gateways.map((gateway) => rawClient(gateway.wsUrl)))
  for (const client of clients) {
    cleanups.push(() => client.close())
    for (const group of groups) client.join('chat', group)
  }
  await until(() => clients.every((client) => client.frames.filter((f) => f.event.type === 'sync').length === groups.length), 'the syncs')
  return clients
}

const mirror = (frames: LogFrame[], group: string, name: string) => {
  const m = new GroupMirror(name)
  for (const frame of frames) if (frame.groupId === group) m.frame(frame)
  return m
}

const isMarker = (type: string) => (event: unknown) => (event as { type?: string })?.type === type

/** A group-level event written last (retried while the cluster recovers): a subscriber that has it has everything. */
async function markAll(gateway: GatewayProcess, groups: string[], type: string) {
  for (const group of groups) {
    await until(async () => (await rest(gateway.url, 'POST', `/streams/chat/${group}/events`, { type, data: type })).status === 202, `the marker of ${group}`, 30_000)
  }
}

async function stored(gateway: GatewayProcess, group: string): Promise<Item[]> {
  const { status, body } = await rest(gateway.url, 'GET', `/streams/chat/${group}`)
  expect(status).toBe(200)
  return byId(body as Item[])
}

/** `workers` writers per gateway doing random writes on a few items of random groups; counts each answer. */
function writers(gateways: GatewayProcess[], groups: string[], seed: number, workers: number, until: () => boolean) {
  const rand = prng(seed)
  const statuses = new Map<number, number>()
  const refusals: unknown[] = []
  const done = Promise.all(
    gateways.flatMap((gateway) =>
      Array.from({ length: workers }, async () => {
        while (!until()) {
          const group = groups[Math.floor(rand() * groups.length)]!
          const id = `item-${Math.floor(rand() * 5)}`
          const r = rand()
          const n = Math.floor(rand() * 1e6)
          const path = `/streams/chat/${group}/${id}`
          const { status, body } =
            r < 0.65
              ? await rest(gateway.url, 'PUT', path, { text: `t${n}`, n, via: gateway.port })
              : r < 0.85
                ? await rest(gateway.url, 'DELETE', path)
                : await rest(gateway.url, 'POST', `${path}/events`, { type: 'tick', data: n })
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          if (status >= 500) refusals.push(body)
        }
      }),
    ),
  )
  return { statuses, refusals, done }
}

async function settle(clients: Array<{ frames: LogFrame[] }>, groups: string[], marker: string) {
  await until(
    () => clients.every((client) => groups.every((group) => mirror(client.frames, group, '').sawEvent(isMarker(marker)))),
    `every subscriber to get ${marker}`,
    30_000,
  )
}

/** Every subscriber's mirror of every group: no broken invariant, the stored state, and `check`. */
async function converged(clients: Array<{ frames: LogFrame[] }>, groups: string[], gateway: GatewayProcess, check: (m: GroupMirror, group: string) => void) {
  for (const group of groups) {
    const state = await stored(gateway, group)
    for (const [i, client] of clients.entries()) {
      const m = mirror(client.frames, group, `${group}@${i}`)
      expect(m.problems).toEqual([])
      expect(m.state()).toEqual(state)
      check(m, group)
    }
  }
}

describe('Redis Cluster: three gateway processes on three masters with a replica each', () => {
  it('refuses a cluster with a slot no master serves, in one line', async () => {
    const broken = await TestRedisCluster.start({ masters: 3, replicas: 0, unassigned: [5000] })
    try {
      const { code, stderr } = await runUntilExit(['--redis', broken.url(2)])
      expect(code).not.toBe(0)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toMatch(/^streamgate: Redis Cluster at redis:\/\/127\.0\.0\.1:\d+\/? cannot hold stream state: hash slots 5000 have no master \(cluster_state:fail\)/)
    } finally {
      await broken.close()
    }
  }, 60_000)

  it('brings subscribers on different instances to the stored state of groups on every master under concurrent writers', async () => {
    const groups = groupsOn(await cluster.masters(), 3, 'spread')
    const clients = await subscribers([B, C], groups)
    let stop = false
    const load = writers([A, B, C], groups, 17, 3, () => stop)
    await new Promise((r) => setTimeout(r, 4000))
    stop = true
    await load.done
    expect([...load.statuses.keys()].every((status) => [200, 201, 202, 404].includes(status)), JSON.stringify([...load.statuses])).toBe(true)
    await markAll(A, groups, 'spread-done')
    await settle(clients, groups, 'spread-done')
    let changes = 0
    await converged(clients, groups, C, (m) => {
      expect(m.resets).toBe(0)
      changes += m.kinds.length
    })
    expect(changes).toBeGreaterThan(groups.length * 2 * 10)
    // The stream's groups are listed from any instance, with their counts, in byte order.
    const listed = (await (await fetch(`${A.url}/streams/chat?limit=1000`)).json()) as Array<{ groupId: string; items: number }>
    expect(listed.map((g) => g.groupId)).toEqual(listed.map((g) => g.groupId).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    for (const group of groups) {
      const items = (await (await fetch(`${B.url}/streams/chat/${encodeURIComponent(group)}`)).json()) as unknown[]
      expect(listed.find((g) => g.groupId === group)).toEqual(items.length > 0 ? { groupId: group, items: items.length } : undefined)
    }
  }, 90_000)

  it('conditions, idempotency keys and expiry on groups of every master: decided once, whichever instance', async () => {
    const groups = groupsOn(await cluster.masters(), 1, 'cond')
    const clients = await subscribers([B, C], groups)
    const expired = await Promise.all(
      groups.map(async (group, n) => {
        const path = `/streams/chat/${group}`
        const creates = await Promise.all([A, B, C, A, B, C].map((g) => rest(g.url, 'PUT', `${path}/x`, { n }, { 'if-none-match': '*' })))
        expect(creates.map((r) => r.status).sort()).toEqual([201, 412, 412, 412, 412, 412])
        const retries = await Promise.all([A, B, C].map((g) => rest(g.url, 'PUT', `${path}/y`, { n }, { 'idempotency-key': `k-${group}` })))
        expect(new Set(retries.map((r) => `${r.status} ${r.headers.get('etag')}`))).toEqual(new Set(['201 "2"']))
        expect((await rest(C.url, 'PUT', `${path}/y`, { n }, { 'if-match': '"2"' })).headers.get('etag')).toBe('"3"')
        expect((await rest(A.url, 'PUT', `${path}/z?ttl=1`, { n })).status).toBe(201)
        return group
      }),
    )
    for (const group of expired) {
      await until(() => clients.every((c) => c.frames.some((f) => f.groupId === group && f.event.type === 'delete')), `the expiry of ${group}`, 5000)
    }
    // Every instance sweeps: a second delete would arrive within a sweep or two.
    await new Promise((r) => setTimeout(r, 1000))
    for (const client of clients) {
      for (const group of groups) {
        const m = mirror(client.frames, group, group)
        expect(m.problems).toEqual([])
        expect(m.kinds.map((k) => `${k.kind}:${k.id ?? ''}`)).toEqual(['sync:', 'create:x', 'create:y', 'update:y', 'create:z', 'delete:z'])
      }
    }
  }, 60_000)

  it('moves slots between masters under subscribers and writers: nothing lost, nothing doubled, no re-sync', async () => {
    const [from, to] = await cluster.masters()
    const groups = groupsOn([from!], 4, 'moved')
    const clients = await subscribers([A, B, C], groups)
    let stop = false
    const load = writers([A, B, C], groups, 29, 3, () => stop)
    for (const group of groups) await cluster.migrateSlot(slotOf(group), to!.port, 15)
    await new Promise((r) => setTimeout(r, 500))
    stop = true
    await load.done
    for (const group of groups) expect((await cluster.ownerOf(slotOf(group))).id).toBe(to!.id)
    // Every write was answered with success: the half-moved states were retried, never refused.
    expect(load.refusals).toEqual([])
    expect([...load.statuses.keys()].every((status) => [200, 201, 202, 404].includes(status)), JSON.stringify([...load.statuses])).toBe(true)
    await markAll(B, groups, 'moved-done')
    await settle(clients, groups, 'moved-done')
    await converged(clients, groups, A, (m) => expect(m.syncs).toBe(1))
  }, 120_000)

  it('kill -9 of a master: its groups’ subscribers get a reset sync and the new state, the others notice nothing', async () => {
    const masters = await cluster.masters()
    // A master no gateway was given as its seed.
    const seeds = [cluster.servers[0]!.port, cluster.servers[1]!.port]
    const victim = masters.find((m) => !seeds.includes(m.port))!
    const hit = groupsOn([victim], 2, 'hit')
    const spared = groupsOn(masters.filter((m) => m.id !== victim.id), 1, 'spared')
    const groups = [...hit, ...spared]
    const clients = await subscribers([B, C], groups)
    let stop = false
    const load = writers([A, B, C], groups, 41, 2, () => stop)
    await new Promise((r) => setTimeout(r, 1000))
    await cluster.killMaster(victim.port)
    await new Promise((r) => setTimeout(r, 1500))
    stop = true
    await load.done
    // While the cluster was down writes failed fast with 503, and only then.
    expect([...load.statuses.keys()].every((status) => [200, 201, 202, 404, 503].includes(status)), JSON.stringify([...load.statuses])).toBe(true)
    await markAll(A, groups, 'killed-done')
    await settle(clients, groups, 'killed-done')
    // A gap without a reset would be a problem in the mirror: every change follows the one before or a sync.
    await converged(clients, groups, B, (m, group) => {
      if (hit.includes(group)) expect(m.resets, m.name).toBeGreaterThanOrEqual(1)
      else expect(m.resets, m.name).toBe(0)
    })
  }, 120_000)
})
