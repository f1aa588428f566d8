import assert from 'node:assert/strict'
import type { Item, LogRecord } from '../model/records.ts'
import type { HistoryLimit, Store } from './store.ts'

/**
 * What every Store must do, as a table of cases that any engine runs (gateway/store/store-contract.test.ts
 * runs it against memory, durable and Redis). A case gets a way to open a fresh, empty store with a given
 * history limit; it asserts only what the Store interface promises, so a difference between engines is a
 * bug in one of them.
 */
export type OpenStore = (historyLimit?: HistoryLimit) => Promise<Store>

export interface ContractCase {
  name: string
  run(open: OpenStore): Promise<void>
}

const S = 'contract'
const item = (id: string, extra: Record<string, unknown> = {}): Item => ({ id, ...extra }) as Item

/**
 * Records the store delivers for a group, as a session follows it: watch, then read (a shared store knows
 * where the group's log stands once a read of it answers; every later record is delivered).
 */
async function follow(store: Store, groupId: string) {
  const records: LogRecord[] = []
  const lost: string[] = []
  store.subscribe({
    record: (record) => record.groupId === groupId && records.push(record),
    lost: (_s, g) => g === groupId && lost.push(g),
  })
  store.watch(S, groupId)
  await store.snapshot(S, groupId)
  return { records, lost }
}

async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const strictlyIncreasing = (values: number[]) => values.every((v, i) => i === 0 || v > values[i - 1]!)
const seqs = (records: LogRecord[]) => records.map((r) => r.seq)

export const storeContract: ContractCase[] = [
  {
    name: 'is ready once open',
    async run(open) {
      const store = await open()
      assert.equal(store.ready(), true)
    },
  },
  {
    name: 'concurrent sets of one id: exactly one create, every other an update, one seq each',
    async run(open) {
      const store = await open()
      const results = await Promise.all(Array.from({ length: 25 }, (_, n) => store.set(S, 'atomic', item('x', { n }))))
      assert.equal(results.filter((r) => r.record.kind === 'create').length, 1)
      assert.equal(results.filter((r) => r.previous === null).length, 1)
      assert.deepEqual(seqs(results.map((r) => r.record)).sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1))
      const last = results.reduce((a, b) => (a.record.seq > b.record.seq ? a : b)).record
      assert.ok(last.kind === 'update')
      assert.deepEqual(await store.get(S, 'atomic', 'x'), last.item)
    },
  },
  {
    name: 'set returns the previous item; delete returns it too and logs it as the delete record',
    async run(open) {
      const store = await open()
      assert.equal((await store.set(S, 'crud', item('a', { v: 1 }))).previous, null)
      assert.deepEqual((await store.set(S, 'crud', item('a', { v: 2 }))).previous, item('a', { v: 1 }))
      const deleted = await store.delete(S, 'crud', 'a')
      assert.ok(deleted)
      assert.deepEqual(deleted.previous, item('a', { v: 2 }))
      assert.equal(deleted.record.kind, 'delete')
      assert.deepEqual(deleted.record.kind === 'delete' && deleted.record.item, item('a', { v: 2 }))
      assert.equal(await store.get(S, 'crud', 'a'), null)
      assert.deepEqual(await store.list(S, 'crud'), [])
    },
  },
  {
    name: 'delete of a missing item is null and logs nothing',
    async run(open) {
      const store = await open()
      const { records } = await follow(store, 'missing')
      await store.set(S, 'missing', item('a'))
      assert.equal(await store.delete(S, 'missing', 'nope'), null)
      assert.equal(await store.delete(S, 'never-written', 'nope'), null)
      assert.equal((await store.snapshot(S, 'missing')).seq, 1)
      await until(() => records.length === 1, 'the create')
      await new Promise((r) => setTimeout(r, 20))
      assert.deepEqual(seqs(records), [1])
      assert.equal((await store.snapshot(S, 'never-written')).seq, 0)
    },
  },
  {
    name: 'a group lists in creation order; an update keeps the position',
    async run(open) {
      const store = await open()
      for (const id of ['c', 'a', 'b']) await store.set(S, 'order', item(id))
      await store.set(S, 'order', item('c', { again: true }))
      assert.deepEqual((await store.list(S, 'order')).map((i) => i.id), ['c', 'a', 'b'])
      assert.deepEqual((await store.snapshot(S, 'order', 'a')).items, [item('a')])
      assert.deepEqual((await store.snapshot(S, 'order', 'zz')).items, [])
    },
  },
  {
    name: 'the clock: strictly increasing stamps and consecutive seqs under a same-millisecond burst',
    async run(open) {
      const store = await open()
      const records = await Promise.all(
        Array.from({ length: 300 }, (_, n) => (n % 3 === 2 ? store.send(S, 'clock', undefined, { type: 'tick', data: n }) : store.set(S, 'clock', item(`i${n % 7}`)).then((r) => r.record))),
      )
      records.sort((a, b) => a.seq - b.seq)
      assert.deepEqual(seqs(records), Array.from({ length: 300 }, (_, i) => i + 1))
      assert.ok(strictlyIncreasing(records.map((r) => r.timestamp)), 'timestamps strictly increase with seq')
    },
  },
  {
    name: "a sync's stamp is below the next change's, written or not",
    async run(open) {
      const store = await open()
      const empty = await store.snapshot(S, 'stamp')
      assert.equal(empty.seq, 0)
      const first = await store.set(S, 'stamp', item('a'))
      assert.ok(first.record.timestamp > empty.timestamp)
      assert.equal(first.record.seq, 1)
      const synced = await store.snapshot(S, 'stamp')
      assert.equal(synced.timestamp, first.record.timestamp)
      const next = await store.set(S, 'stamp', item('a'))
      assert.ok(next.record.timestamp > synced.timestamp)
    },
  },
  {
    name: 'history: the records after a seq, [] when nothing was missed, null past the log or in a foreign epoch',
    async run(open) {
      const store = await open()
      const written: LogRecord[] = []
      for (let n = 0; n < 5; n++) written.push((await store.set(S, 'history', item(`i${n}`))).record)
      written.push(await store.send(S, 'history', 'i1', { type: 'ping', data: { n: 1 } }))
      const { epoch } = written[0]!
      assert.deepEqual(await store.history(S, 'history', epoch, 2), written.slice(2))
      assert.deepEqual(await store.history(S, 'history', epoch, 0), written)
      assert.deepEqual(await store.history(S, 'history', epoch, 6), [])
      assert.equal(await store.history(S, 'history', epoch, 7), null)
      assert.equal(await store.history(S, 'history', `${epoch}x`, 2), null)
      assert.deepEqual(await store.history(S, 'never-written', epoch, 0), [])
      assert.equal(await store.history(S, 'never-written', epoch, 3), null)
      assert.equal((await store.snapshot(S, 'history')).epoch, epoch)
    },
  },
  {
    name: 'history trimmed by count: older positions cannot resume',
    async run(open) {
      const store = await open({ records: 3, bytes: 1 << 20 })
      const written: LogRecord[] = []
      for (let n = 0; n < 6; n++) written.push((await store.set(S, 'count', item('a', { n }))).record)
      const { epoch } = written[0]!
      assert.deepEqual(await store.history(S, 'count', epoch, 3), written.slice(3))
      assert.equal(await store.history(S, 'count', epoch, 2), null)
      assert.equal(await store.history(S, 'count', epoch, 0), null)
    },
  },
  {
    name: 'history trimmed by bytes: the newest records within the budget',
    async run(open) {
      const store = await open({ records: 1000, bytes: 3500 })
      const pad = 'x'.repeat(1000)
      const written: LogRecord[] = []
      for (let n = 0; n < 6; n++) written.push((await store.set(S, 'bytes', item(`i${n}`, { pad }))).record)
      const { epoch } = written[0]!
      assert.deepEqual(await store.history(S, 'bytes', epoch, 3), written.slice(3))
      assert.equal(await store.history(S, 'bytes', epoch, 2), null)
    },
  },
  {
    name: 'reads of a never-written group create nothing: it still starts at seq 1 with a create',
    async run(open) {
      const store = await open()
      assert.equal(await store.get(S, 'ghost', 'a'), null)
      assert.deepEqual(await store.list(S, 'ghost'), [])
      const snapshot = await store.snapshot(S, 'ghost')
      assert.deepEqual({ items: snapshot.items, seq: snapshot.seq }, { items: [], seq: 0 })
      assert.ok(Math.abs(snapshot.timestamp - Date.now()) < 5000)
      assert.deepEqual(await store.history(S, 'ghost', snapshot.epoch, 0), [])
      const first = await store.set(S, 'ghost', item('a'))
      assert.deepEqual({ seq: first.record.seq, kind: first.record.kind }, { seq: 1, kind: 'create' })
    },
  },
  {
    name: 'groups: those holding items, in byte order of their ids, with their counts, page by page',
    async run(open) {
      const store = await open()
      const ids = ['b', 'a', 'ä', 'a:b', '😀', 'z', 'gone', 'Z']
      for (const [n, groupId] of ids.entries()) for (let i = 0; i <= n % 3; i++) await store.set(S, groupId, item(`i${i}`))
      await store.set('other stream', 'a', item('x'))
      for (let i = 0; i <= ids.indexOf('gone') % 3; i++) await store.delete(S, 'gone', `i${i}`)
      const expected = ids
        .filter((id) => id !== 'gone')
        .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
        .map((groupId) => ({ groupId, items: (ids.indexOf(groupId) % 3) + 1 }))
      const pages: unknown[][] = []
      for (let after: string | undefined; ; ) {
        const page = await store.groups(S, after, 2)
        if (page.length === 0) break
        pages.push(page)
        after = page.at(-1)!.groupId
      }
      assert.deepEqual(pages.flat(), expected)
      assert.ok(pages.slice(0, -1).every((page) => page.length === 2))
      assert.deepEqual(await store.groups('never written', undefined, 10), [])
    },
  },
  {
    name: 'names of any shape are kept apart (separators, NUL, unicode)',
    async run(open) {
      const store = await open()
      const pairs = [
        ['a:b', 'c'],
        ['a', 'b:c'],
        ['a\u0000b', 'c'],
        ['a', '\u0000b\u0000c'],
        ['ü', 'g'],
      ] as const
      for (const [streamName, groupId] of pairs) await store.set(streamName, groupId, item(`${streamName}|${groupId}`))
      for (const [streamName, groupId] of pairs) assert.deepEqual((await store.list(streamName, groupId)).map((i) => i.id), [`${streamName}|${groupId}`])
    },
  },
  {
    name: 'watched groups: every record once, in log order, as the write returned it',
    async run(open) {
      const store = await open()
      const a = await follow(store, 'watch-a')
      const b = await follow(store, 'watch-b')
      const written = await Promise.all(
        Array.from({ length: 60 }, (_, n) => (n % 2 ? store.set(S, 'watch-a', item(`a${n % 5}`)) : store.set(S, 'watch-b', item(`b${n % 4}`)))),
      )
      await until(() => a.records.length === 30 && b.records.length === 30, 'every record')
      for (const { records } of [a, b]) assert.deepEqual(seqs(records), Array.from({ length: 30 }, (_, i) => i + 1))
      const byKey = new Map(written.map((w) => [`${w.record.groupId}:${w.record.seq}`, w.record]))
      for (const record of [...a.records, ...b.records]) assert.deepEqual(record, byKey.get(`${record.groupId}:${record.seq}`))
      assert.deepEqual([...a.lost, ...b.lost], [])
      store.unwatch(S, 'watch-a')
      store.unwatch(S, 'watch-b')
    },
  },
  {
    name: 'a delivered record is in the history: a reader that resumes from it misses nothing',
    async run(open) {
      const store = await open()
      const seen: LogRecord[] = []
      const resumed: Array<LogRecord[] | null> = []
      store.subscribe({
        record: (record) => {
          if (record.groupId !== 'delivered') return
          seen.push(record)
          void store.history(S, 'delivered', record.epoch, record.seq - 1).then((r) => resumed.push(r))
        },
        lost: () => {},
      })
      store.watch(S, 'delivered')
      await store.snapshot(S, 'delivered')
      await Promise.all(Array.from({ length: 20 }, (_, n) => store.set(S, 'delivered', item(`i${n}`))))
      await until(() => resumed.length === 20, 'every history read')
      for (const records of resumed) assert.ok(records && records.length >= 1, 'the delivered record is in the history')
    },
  },
]
