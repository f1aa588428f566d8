import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../gateway/model/errors.ts'
import type { Item, LogRecord } from '../gateway/model/records.ts'
import { expiringKey, groupIndexKey, standaloneLayout } from '../gateway/store/redis-keys.ts'
import { standaloneScripts } from '../gateway/store/redis-scripts.ts'
import { RedisStore, type RedisStoreOptions } from '../gateway/store/redis-store.ts'
import { until } from './helpers/gateway.ts'
import { freePort, TestRedis } from './helpers/redis-server.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

/**
 * The Redis store on its own, against a real redis-server started for this file: several store instances
 * (as several gateways would hold) on one Redis, with the connection cut, messages dropped and Redis
 * restarted under them. Gateway-level behaviour is in redis-instances and redis-outage.
 */

let redis: TestRedis
beforeAll(async () => {
  redis = await TestRedis.start({ persistent: true })
})
afterAll(() => redis?.close())

const opened: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const closable of opened.splice(0).reverse()) await closable.close()
})

let prefixes = 0
/** A fresh prefix per test, so tests never see each other's keys. */
const freshPrefix = () => `t${++prefixes}-${process.pid}:`

/** `tiny` keeps 3 records per group, everything else 1000. */
const historyLimit = (streamName: string) => ({ records: streamName === 'tiny' ? 3 : 1000, bytes: 8 * 1024 * 1024 })

async function openStore(options: Partial<RedisStoreOptions> & { prefix: string }) {
  const store = await RedisStore.connect({ url: redis.url, historyLimit, ...options })
  opened.push(store)
  const records: LogRecord[] = []
  const lost: string[] = []
  store.subscribe({ record: (r) => records.push(r), lost: (s, g) => lost.push(`${s}/${g}`) })
  return { store, records, lost }
}

/** Follows a group and waits until the store knows where its log stands (what a subscriber's first read does). */
async function follow(store: RedisStore, streamName: string, groupId: string) {
  store.watch(streamName, groupId)
  await until(async () => {
    try {
      return await store.snapshot(streamName, groupId)
    } catch {
      return undefined
    }
  }, 'the followed group to be readable')
}

async function rawClient() {
  const client = new Redis(redis.url, { lazyConnect: true })
  await client.connect()
  opened.push({ close: async () => void client.disconnect() })
  return client
}

/** Exactly the records 1..n of one group, each once and in order, with strictly increasing stamps. */
function expectWholeLog(records: LogRecord[], n: number) {
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  for (let i = 1; i < records.length; i++) expect(records[i]!.timestamp).toBeGreaterThan(records[i - 1]!.timestamp)
}

describe('Redis store: several instances on one Redis', () => {
  it('gives concurrent writers through different instances one order, one clock and exact create/update/delete', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    const b = await openStore({ prefix })
    await follow(a.store, 'chat', 'g')
    await follow(b.store, 'chat', 'g')

    const writes: Array<Promise<unknown>> = []
    for (let i = 0; i < 200; i++) {
      const store = i % 2 ? a.store : b.store
      const id = `item-${i % 7}`
      if (i % 13 === 0) writes.push(store.delete('chat', 'g', id))
      else if (i % 5 === 0) writes.push(store.send('chat', 'g', i % 10 === 0 ? undefined : id, { type: 'tick', data: { i } }))
      else writes.push(store.set('chat', 'g', { id, text: `v${i}`, n: i }))
    }
    const results = await Promise.all(writes)
    const written = results.filter((r) => r !== null).length

    await until(() => a.records.length === written && b.records.length === written, 'every record at both instances')
    expectWholeLog(a.records, written)
    expect(b.records).toEqual(a.records)

    // create exactly when nothing existed, update otherwise, delete only of an existing item (with its payload)
    const state = new Map<string, Item>()
    for (const record of a.records) {
      if (record.kind === 'event') continue
      if (record.kind === 'delete') {
        expect(record.item).toEqual(state.get(record.id))
        state.delete(record.id)
      } else {
        expect(record.kind).toBe(state.has(record.id) ? 'update' : 'create')
        state.set(record.id, record.item)
      }
    }
    const snapshot = await b.store.snapshot('chat', 'g')
    expect(snapshot.seq).toBe(written)
    expect(snapshot.timestamp).toBe(a.records.at(-1)!.timestamp)
    expect(new Map(snapshot.items.map((item) => [item.id, item]))).toEqual(state)
    expect(await a.store.list('chat', 'g')).toEqual(snapshot.items)
  })

  it('decides create exactly once when two instances race to create the same item', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    const b = await openStore({ prefix })
    for (let i = 0; i < 50; i++) {
      const [x, y] = await Promise.all([a.store.set('chat', 'race', { id: `r${i}`, by: 'a' }), b.store.set('chat', 'race', { id: `r${i}`, by: 'b' })])
      expect([x.record.kind, y.record.kind].sort()).toEqual(['create', 'update'])
      const [first, second] = x.record.seq < y.record.seq ? [x, y] : [y, x]
      expect(first.record.kind).toBe('create')
      expect(first.previous).toBeNull()
      expect(second.previous).toEqual(first.record.kind === 'create' && first.record.item)
      expect(second.record.timestamp).toBeGreaterThan(first.record.timestamp)
    }
  })

  it('lists items in creation order, like the memory store, and stores them byte for byte', async () => {
    const { store } = await openStore({ prefix: freshPrefix() })
    await store.set('chat', 'order', { id: 'b', x: 1 })
    await store.set('chat', 'order', { id: 'a', big: 12345678901234567, nested: { s: 'ü"\\\n', list: [1, null, true] } })
    await store.set('chat', 'order', { id: 'c' })
    await store.set('chat', 'order', { id: 'b', x: 2 })
    await store.delete('chat', 'order', 'c')
    await store.set('chat', 'order', { id: 'c', again: true })
    expect((await store.list('chat', 'order')).map((i) => i.id)).toEqual(['b', 'a', 'c'])
    expect((await store.get('chat', 'order', 'a'))?.item).toEqual({ id: 'a', big: 12345678901234567, nested: { s: 'ü"\\\n', list: [1, null, true] } })
    expect((await store.snapshot('chat', 'order', 'b')).items).toEqual([{ id: 'b', x: 2 }])
    expect((await store.snapshot('chat', 'order', 'missing')).items).toEqual([])
    expect(await store.delete('chat', 'order', 'missing')).toBeNull()
    expect((await store.snapshot('chat', 'order')).seq).toBe(6)
  })
})

describe('Redis store: snapshot and history', () => {
  it('reads items and log position atomically and replays exactly the records after a position', async () => {
    const { store } = await openStore({ prefix: freshPrefix() })
    const first = await store.snapshot('chat', 'h')
    expect(first).toMatchObject({ items: [], seq: 0 })
    const written: LogRecord[] = []
    for (let i = 1; i <= 10; i++) written.push((await store.set('chat', 'h', { id: `i${i % 3}`, i })).record)
    // The first write of a group is stamped after the sync of the never-written group.
    expect(written[0]!.timestamp).toBeGreaterThan(first.timestamp)
    const snap = await store.snapshot('chat', 'h')
    expect(snap).toMatchObject({ seq: 10, timestamp: written[9]!.timestamp, epoch: written[0]!.epoch })
    expect(await store.history('chat', 'h', snap.epoch, 4)).toEqual(written.slice(4))
    expect(await store.history('chat', 'h', snap.epoch, 10)).toEqual([])
    expect(await store.history('chat', 'h', snap.epoch, 11)).toBeNull()
    expect(await store.history('chat', 'h', 'another-epoch', 4)).toBeNull()
    expect(await store.history('chat', 'never-written', snap.epoch, 0)).toEqual([])
    expect(await store.history('chat', 'never-written', snap.epoch, 3)).toBeNull()
  })

  it('keeps the stream’s historySize per group: an older position is no longer covered', async () => {
    const { store } = await openStore({ prefix: freshPrefix() })
    const records: LogRecord[] = []
    for (let i = 1; i <= 5; i++) records.push(await store.send('tiny', 'h', undefined, { type: 't', data: i }))
    const { epoch } = records[0]!
    expect(await store.history('tiny', 'h', epoch, 2)).toEqual(records.slice(2))
    expect(await store.history('tiny', 'h', epoch, 1)).toBeNull()
  })
})

describe('Redis store: delivery', () => {
  it('repairs a record missing on the channel from the history, in order', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    const b = await openStore({ prefix })
    await follow(a.store, 'chat', 'gap')
    await b.store.set('chat', 'gap', { id: 'x', v: 1 })
    await until(() => a.records.length === 1, 'the first record')

    // A write whose PUBLISH goes nowhere: to the followers it is a lost message.
    await silentWrite(prefix, 'chat', 'gap', { id: 'x', v: 2 })
    await b.store.set('chat', 'gap', { id: 'x', v: 3 })
    await until(() => a.records.length === 3, 'the missed record and the next one')
    expectWholeLog(a.records, 3)
    expect(a.records.map((r) => r.kind === 'update' && r.item.v)).toEqual([false, 2, 3])
    expect(a.lost).toEqual([])
  })

  it('reports the group lost when the history no longer covers the gap, then goes on live', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    const b = await openStore({ prefix })
    await follow(a.store, 'tiny', 'gap')
    await b.store.send('tiny', 'gap', undefined, { type: 't', data: 1 })
    await until(() => a.records.length === 1, 'the first record')
    for (let i = 0; i < 4; i++) await silentWrite(prefix, 'tiny', 'gap', { id: `s${i}` })
    await b.store.send('tiny', 'gap', undefined, { type: 't', data: 2 })
    await until(() => a.lost.length === 1, 'the group reported lost')
    expect(a.lost).toEqual(['tiny/gap'])
    // Nothing from the gap or before the new position is delivered after the loss; later records are.
    const delivered = a.records.length
    const next = await b.store.send('tiny', 'gap', undefined, { type: 't', data: 3 })
    await until(() => a.records.length === delivered + 1, 'the next record after the loss')
    expect(a.records.at(-1)).toEqual(next)
    expect(a.records.map((r) => r.seq)).toEqual([...a.records.map((r) => r.seq)].sort((x, y) => x - y))
  })

  it('catches up from the history after its connections to Redis were cut', async () => {
    const prefix = freshPrefix()
    const proxy = await TcpProxy.start([redis.port])
    opened.push(proxy)
    const a = await openStore({ prefix, url: `redis://127.0.0.1:${proxy.port}` })
    const b = await openStore({ prefix })
    await follow(a.store, 'chat', 'cut')
    await b.store.set('chat', 'cut', { id: 'x', v: 0 })
    await until(() => a.records.length === 1, 'the first record')

    proxy.block()
    proxy.cut()
    await until(() => !a.store.ready(), 'not ready while Redis is unreachable')
    for (let v = 1; v <= 5; v++) await b.store.set('chat', 'cut', { id: 'x', v })
    expect(a.records).toHaveLength(1)

    proxy.unblock()
    await until(() => a.records.length === 6, 'the records written while cut off')
    expectWholeLog(a.records, 6)
    expect(a.lost).toEqual([])
    expect(a.store.ready()).toBe(true)
  })

  it('reports the group lost when it was cut off for longer than the history', async () => {
    const prefix = freshPrefix()
    const proxy = await TcpProxy.start([redis.port])
    opened.push(proxy)
    const a = await openStore({ prefix, url: `redis://127.0.0.1:${proxy.port}` })
    const b = await openStore({ prefix })
    await follow(a.store, 'tiny', 'cut')
    proxy.block()
    proxy.cut()
    await until(() => !a.store.ready(), 'not ready')
    for (let i = 0; i < 5; i++) await b.store.send('tiny', 'cut', undefined, { type: 't', data: i })
    proxy.unblock()
    await until(() => a.lost.length === 1, 'the group reported lost')
    expect(a.records).toEqual([])
    const next = await b.store.send('tiny', 'cut', undefined, { type: 't', data: 'after' })
    await until(() => a.records.length === 1, 'live again')
    expect(a.records).toEqual([next])
  })
})

describe('Redis store: failure', () => {
  it('fails reads and writes at once with UNAVAILABLE while Redis is unreachable, and recovers', async () => {
    const prefix = freshPrefix()
    const proxy = await TcpProxy.start([redis.port])
    opened.push(proxy)
    const { store } = await openStore({ prefix, url: `redis://127.0.0.1:${proxy.port}` })
    await store.set('chat', 'down', { id: 'kept' })
    proxy.block()
    proxy.cut()
    await until(() => !store.ready(), 'not ready')
    for (const attempt of [
      () => store.set('chat', 'down', { id: 'refused' }),
      () => store.delete('chat', 'down', 'kept'),
      () => store.send('chat', 'down', undefined, { type: 't', data: null }),
      () => store.get('chat', 'down', 'kept'),
      () => store.list('chat', 'down'),
      () => store.snapshot('chat', 'down'),
      () => store.history('chat', 'down', 'e', 0),
    ]) {
      const started = Date.now()
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(GatewayError)
      expect((error as GatewayError).code).toBe('UNAVAILABLE')
      expect(Date.now() - started).toBeLessThan(100)
    }
    proxy.unblock()
    await until(() => store.ready(), 'ready again')
    expect(await store.list('chat', 'down')).toEqual([{ id: 'kept' }])
  })

  it('fails a write that gets no answer within commandTimeoutMs instead of hanging, never resends it, and is not ready meanwhile', async () => {
    const prefix = freshPrefix()
    const { store, records } = await openStore({ prefix, commandTimeoutMs: 300, heartbeatMs: 100 })
    await follow(store, 'chat', 'slow')
    const raw = await rawClient()
    // Redis stops answering anyone (as a hung server would) for 1.5 s.
    await raw.call('CLIENT', 'PAUSE', '1500', 'ALL')
    const started = Date.now()
    const error = await store.set('chat', 'slow', { id: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((error as GatewayError).code).toBe('UNAVAILABLE')
    expect(Date.now() - started).toBeLessThan(1000)
    await until(() => !store.ready(), 'not ready while Redis does not answer')
    // Redis ran the script once it was unpaused (the caller was told it may not have); it is never sent twice.
    await until(() => store.ready(), 'ready once Redis answers again')
    await until(() => records.length === 1, 'the write delivered')
    expect(await raw.hget(standaloneLayout(prefix)('chat', 'slow').meta, 'seq')).toBe('1')
    expect(records[0]).toMatchObject({ seq: 1, kind: 'create', item: { id: 'x' } })
  })

  it('refuses to start on an unreachable Redis or one whose eviction policy would drop stream state', async () => {
    const port = await freePort()
    await expect(RedisStore.connect({ url: `redis://127.0.0.1:${port}`, historyLimit })).rejects.toThrow(
      new RegExp(`cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}.*ECONNREFUSED`),
    )
    const raw = await rawClient()
    try {
      await raw.config('SET', 'maxmemory-policy', 'allkeys-lru')
      await expect(RedisStore.connect({ url: redis.url, historyLimit })).rejects.toThrow(/maxmemory-policy is allkeys-lru.*noeviction/)
      await raw.config('SET', 'maxmemory-policy', 'volatile-lru')
      const { store } = await openStore({ prefix: freshPrefix() })
      expect(store.ready()).toBe(true)
    } finally {
      await raw.config('SET', 'maxmemory-policy', 'noeviction')
    }
  })
})

describe('Redis store: key layout and prefix', () => {
  it('keeps each deployment under its own prefix, with the documented keys', async () => {
    const one = await openStore({ prefix: freshPrefix() })
    const two = await openStore({ prefix: freshPrefix() })
    await one.store.set('chat', 'a:b', { id: 'x', from: 'one' })
    await two.store.set('chat', 'a:b', { id: 'x', from: 'two' })
    expect((await one.store.get('chat', 'a:b', 'x'))?.item).toEqual({ id: 'x', from: 'one' })
    expect((await two.store.get('chat', 'a:b', 'x'))?.item).toEqual({ id: 'x', from: 'two' })
    const raw = await rawClient()
    expect((await raw.keys(`${one.store.prefix}*`)).sort()).toEqual(
      [`${one.store.prefix}epoch`, `${one.store.prefix}groups:4:chat`, `${one.store.prefix}items:4:chat:a:b`, `${one.store.prefix}log:4:chat:a:b`, `${one.store.prefix}meta:4:chat:a:b`].sort(),
    )
    for (const key of await raw.keys(`${one.store.prefix}*`)) expect(await raw.ttl(key)).toBe(-1)
    expect(await one.store.get('chat', 'a', 'b:x')).toBeNull()
  })

  it('keeps expiry and idempotency keys where documented: only idempotency keys have a TTL', async () => {
    const { store } = await openStore({ prefix: freshPrefix() })
    const p = store.prefix
    await store.set('chat', 'g', { id: 'x' }, { expiresAt: Date.now() + 60_000, idempotency: { key: 'k', fingerprint: 'f', ttlMs: 30_000 } })
    const raw = await rawClient()
    const idem = (await raw.keys(`${p}idem:*`))[0]!
    expect(idem).toMatch(new RegExp(`^${p}idem:4:chat:g:[0-9a-f]{40}$`))
    expect(await raw.pttl(idem)).toBeGreaterThan(25_000)
    expect(await raw.zrange(`${p}exp:4:chat:g`, 0, -1)).toEqual(['x'])
    expect(await raw.zrange(`${p}expiring`, 0, -1)).toEqual([JSON.stringify(['chat', 'g', 'x'])])
    // A set without a time clears the item's expiry from both indexes.
    await store.set('chat', 'g', { id: 'x', again: true })
    expect(await raw.exists(`${p}exp:4:chat:g`, `${p}expiring`)).toBe(0)
  })

  it('reads an item stored before versions existed as version 0; its next write gives it one', async () => {
    const { store } = await openStore({ prefix: freshPrefix() })
    await store.set('chat', 'legacy', { id: 'first' })
    const raw = await rawClient()
    await raw.hset(standaloneLayout(store.prefix)('chat', 'legacy').items, 'old', '1:{"id":"old","v":1}')
    expect(await store.get('chat', 'legacy', 'old')).toEqual({ item: { id: 'old', v: 1 }, version: 0 })
    expect((await store.list('chat', 'legacy')).map((i) => i.id).sort()).toEqual(['first', 'old'])
    const written = await store.set('chat', 'legacy', { id: 'old', v: 2 }, { ifVersion: 0 })
    expect(written).toMatchObject({ previous: { id: 'old', v: 1 }, record: { kind: 'update', seq: 2 } })
    expect((await store.get('chat', 'legacy', 'old'))?.version).toBe(2)
  })
})

describe('Redis store: epochs', () => {
  it('starts a new epoch when Redis comes back (empty or not): followed groups are lost, old positions gone', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    await follow(a.store, 'chat', 'epoch')
    const before = await a.store.set('chat', 'epoch', { id: 'x', v: 1 })
    await until(() => a.records.length === 1, 'the record')

    // Restart with its data (AOF): the items survive, the epoch does not (the file could predate acknowledged writes).
    await redis.stop('SIGKILL')
    await until(() => !a.store.ready(), 'not ready while Redis is down')
    await redis.restart()
    await until(() => a.lost.length === 1, 'the group reported lost after the restart')
    expect(a.store.ready()).toBe(true)
    const after = await a.store.snapshot('chat', 'epoch')
    expect(after.epoch).not.toBe(before.record.epoch)
    expect(after.items).toEqual([{ id: 'x', v: 1 }])
    expect(await a.store.history('chat', 'epoch', before.record.epoch, 0)).toBeNull()

    // Restart empty: nothing survives; the clock stays ahead of every stamp this instance delivered.
    await redis.stop('SIGKILL')
    redis.wipe()
    await redis.restart()
    await until(() => a.lost.length === 2, 'the group reported lost after the empty restart')
    const empty = await a.store.snapshot('chat', 'epoch')
    expect(empty).toMatchObject({ items: [], seq: 0 })
    expect(empty.epoch).not.toBe(after.epoch)
    expect(empty.timestamp).toBeGreaterThan(before.record.timestamp)
  })

  it('keeps a group’s clock ahead of what its followers saw when the clock is lost (FLUSHALL)', async () => {
    const prefix = freshPrefix()
    const a = await openStore({ prefix })
    await follow(a.store, 'chat', 'clock')
    const raw = await rawClient()
    // A clock far ahead of wall time (a long burst of more than 1000 writes per second would do that).
    const ahead = Date.now() + 60_000
    await raw.hset(standaloneLayout(prefix)('chat', 'clock').meta, 'ts', String(ahead))
    const fast = await a.store.set('chat', 'clock', { id: 'x' })
    expect(fast.record.timestamp).toBe(ahead + 1)
    await until(() => a.records.length === 1, 'the record')
    await raw.flushall()
    await until(() => a.lost.length === 1, 'the new epoch noticed (heartbeat)')
    expect((await a.store.snapshot('chat', 'clock')).timestamp).toBeGreaterThan(ahead + 1)
    expect((await a.store.set('chat', 'clock', { id: 'x' })).record.timestamp).toBeGreaterThan(ahead + 1)
  })
})

/** Runs the store's own write script the way a gateway would, but publishes to a channel nobody listens on. */
async function silentWrite(prefix: string, streamName: string, groupId: string, item: Item) {
  const raw = await rawClient()
  const info = await raw.info('server')
  const runId = /run_id:(\w+)/.exec(info)![1]!
  const keys = standaloneLayout(prefix)(streamName, groupId)
  const head = `"streamName":${JSON.stringify(streamName)},"groupId":${JSON.stringify(groupId)},"id":${JSON.stringify(item.id)}`
  await raw.eval(
    standaloneScripts.set.lua,
    8,
    keys.epoch,
    keys.meta,
    keys.items,
    keys.log,
    keys.exp,
    keys.idem(''),
    groupIndexKey(prefix, streamName, false),
    expiringKey(prefix),
    runId,
    'unused-candidate',
    0,
    historyLimit(streamName).records,
    historyLimit(streamName).bytes,
    `${prefix}nowhere`,
    item.id,
    JSON.stringify(item),
    head,
    groupId,
    // No conditions, no idempotency key, no expiry.
    '',
    '',
    '',
    0,
    '',
    JSON.stringify([streamName, groupId, item.id]),
  )
}
