import assert from 'node:assert/strict'
import type { Item, LogRecord } from '../model/records.ts'
import { GatewayError } from '../model/errors.ts'
import type { HistoryLimit, Idempotency, Store } from './store.ts'

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

/** Asserts that `work` is refused with this code (and reason), as the store's contract says. */
async function refused(work: Promise<unknown>, code: string, reason?: string) {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof GatewayError, String(error))
    assert.equal(error.code, code)
    assert.equal(error.reason, reason)
    return true
  })
}

const key = (name: string, fingerprint = 'f1', ttlMs = 60_000): Idempotency => ({ key: name, fingerprint, ttlMs })

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
      assert.deepEqual(await store.get(S, 'atomic', 'x'), { item: last.item, version: last.seq })
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
  {
    name: 'versions: an item is at the seq of its last change',
    async run(open) {
      const store = await open()
      const first = await store.set(S, 'versions', item('a', { v: 1 }))
      await store.send(S, 'versions', undefined, { type: 'between', data: null })
      assert.equal((await store.get(S, 'versions', 'a'))?.version, first.record.seq)
      const second = await store.set(S, 'versions', item('a', { v: 2 }))
      assert.deepEqual(await store.get(S, 'versions', 'a'), { item: item('a', { v: 2 }), version: second.record.seq })
    },
  },
  {
    name: "versions: a snapshot gives each item's version, the seq of its last change, parallel to its items",
    async run(open) {
      const store = await open()
      await store.set(S, 'snap-versions', item('a', { v: 1 }))
      await store.set(S, 'snap-versions', item('b'))
      const c = await store.set(S, 'snap-versions', item('c'))
      await store.send(S, 'snap-versions', undefined, { type: 'between', data: null })
      const a = await store.set(S, 'snap-versions', item('a', { v: 2 }))
      await store.delete(S, 'snap-versions', 'b')
      const group = await store.snapshot(S, 'snap-versions')
      assert.deepEqual(group.items.map((i) => i.id), ['a', 'c'])
      assert.deepEqual(group.versions, [a.record.seq, c.record.seq])
      for (const [n, stored] of group.items.entries()) {
        assert.equal(group.versions[n], (await store.get(S, 'snap-versions', stored.id))?.version)
      }
      assert.deepEqual((await store.snapshot(S, 'snap-versions', 'a')).versions, [a.record.seq])
      assert.deepEqual((await store.snapshot(S, 'snap-versions', 'b')).versions, [])
      assert.deepEqual((await store.snapshot(S, 'never-written')).versions, [])
    },
  },
  {
    name: 'if-absent: of concurrent creates exactly one wins; the others are refused and send nothing',
    async run(open) {
      const store = await open()
      const { records } = await follow(store, 'absent')
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, n) => store.set(S, 'absent', item('x', { n }), { ifAbsent: true })))
      const won = outcomes.filter((o) => o.status === 'fulfilled')
      assert.equal(won.length, 1)
      for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as GatewayError).code, 'FAILED_PRECONDITION')
      await refused(store.set(S, 'absent', item('x'), { ifAbsent: true }), 'FAILED_PRECONDITION')
      await until(() => records.length === 1, 'the create')
      await new Promise((r) => setTimeout(r, 30))
      assert.equal(records.length, 1)
      assert.equal((await store.snapshot(S, 'absent')).seq, 1)
    },
  },
  {
    name: 'if-version: a mismatch (or a missing item) writes nothing and sends nothing; a match writes',
    async run(open) {
      const store = await open()
      const { records } = await follow(store, 'match')
      const { record } = await store.set(S, 'match', item('a', { v: 1 }))
      await refused(store.set(S, 'match', item('a', { v: 2 }), { ifVersion: record.seq + 1 }), 'FAILED_PRECONDITION')
      await refused(store.delete(S, 'match', 'a', { ifVersion: record.seq + 1 }), 'FAILED_PRECONDITION')
      await refused(store.set(S, 'match', item('b'), { ifVersion: 1 }), 'FAILED_PRECONDITION')
      await refused(store.delete(S, 'match', 'b', { ifVersion: 1 }), 'FAILED_PRECONDITION')
      assert.deepEqual(await store.get(S, 'match', 'a'), { item: item('a', { v: 1 }), version: record.seq })
      const next = await store.set(S, 'match', item('a', { v: 3 }), { ifVersion: record.seq })
      assert.equal(next.record.kind, 'update')
      const gone = await store.delete(S, 'match', 'a', { ifVersion: next.record.seq })
      assert.equal(gone?.record.kind, 'delete')
      await until(() => records.length === 3, 'three records')
      await new Promise((r) => setTimeout(r, 30))
      assert.deepEqual(records.map((r) => r.kind), ['create', 'update', 'delete'])
    },
  },
  {
    name: 'if-version under contention: read-modify-write loops end exact',
    async run(open) {
      const store = await open()
      await store.set(S, 'counter', item('c', { n: 0 }))
      const bump = async () => {
        for (;;) {
          const current = (await store.get(S, 'counter', 'c'))!
          try {
            await store.set(S, 'counter', item('c', { n: (current.item.n as number) + 1 }), { ifVersion: current.version })
            return
          } catch (error) {
            if (!(error instanceof GatewayError && error.code === 'FAILED_PRECONDITION')) throw error
          }
        }
      }
      await Promise.all(Array.from({ length: 8 }, async () => { for (let i = 0; i < 5; i++) await bump() }))
      assert.equal((await store.get(S, 'counter', 'c'))!.item.n, 40)
    },
  },
  {
    name: 'idempotency: a retry gets the first answer and writes nothing; another request with the key is refused',
    async run(open) {
      const store = await open()
      const { records } = await follow(store, 'idem')
      const first = await store.set(S, 'idem', item('a', { v: 1 }), { idempotency: key('k1') })
      const again = await store.set(S, 'idem', item('a', { v: 1 }), { idempotency: key('k1') })
      assert.deepEqual({ record: again.record, previous: again.previous }, { record: first.record, previous: null })
      assert.equal(again.replayed, true)
      await refused(store.set(S, 'idem', item('a', { v: 2 }), { idempotency: key('k1', 'f2') }), 'INVALID_ARGUMENT', 'IDEMPOTENCY_KEY_REUSED')
      const sent = await store.send(S, 'idem', 'a', { type: 'ping', data: 1 }, { idempotency: key('k2') })
      assert.deepEqual(await store.send(S, 'idem', 'a', { type: 'ping', data: 1 }, { idempotency: key('k2') }), sent)
      const deleted = await store.delete(S, 'idem', 'a', { idempotency: key('k3') })
      const redone = await store.delete(S, 'idem', 'a', { idempotency: key('k3') })
      assert.deepEqual(redone?.record, deleted?.record)
      assert.deepEqual(redone?.previous, item('a', { v: 1 }))
      // Keys are per group: the same key elsewhere is a new request.
      assert.equal((await store.set(S, 'idem-other', item('a'), { idempotency: key('k1', 'f9') })).replayed, undefined)
      await until(() => records.length === 3, 'three records')
      await new Promise((r) => setTimeout(r, 30))
      assert.deepEqual(records.map((r) => r.kind), ['create', 'event', 'delete'])
    },
  },
  {
    name: 'idempotency: concurrent retries of one key write once',
    async run(open) {
      const store = await open()
      const results = await Promise.all(Array.from({ length: 10 }, () => store.set(S, 'idem-race', item('a'), { idempotency: key('once') })))
      assert.equal(new Set(results.map((r) => r.record.seq)).size, 1)
      assert.equal((await store.snapshot(S, 'idem-race')).seq, 1)
    },
  },
  {
    name: 'idempotency: a key past its ttl is forgotten',
    async run(open) {
      const store = await open()
      await store.set(S, 'idem-ttl', item('a'), { idempotency: key('short', 'f1', 100) })
      await new Promise((r) => setTimeout(r, 250))
      await store.expire(Date.now())
      const later = await store.set(S, 'idem-ttl', item('a'), { idempotency: key('short', 'f2', 100) })
      assert.equal(later.record.seq, 2)
    },
  },
  {
    name: 'expiry: a due item is deleted through the log, once, and only when due; a set without ttl cancels it',
    async run(open) {
      const store = await open()
      const { records } = await follow(store, 'ttl')
      const now = Date.now()
      await store.set(S, 'ttl', item('soon'), { expiresAt: now + 200 })
      await store.set(S, 'ttl', item('later'), { expiresAt: now + 60_000 })
      await store.set(S, 'ttl', item('kept'), { expiresAt: now + 200 })
      await store.set(S, 'ttl', item('kept', { again: true }))
      assert.equal(await store.expire(Date.now()), 0)
      await new Promise((r) => setTimeout(r, 300))
      const [a, b] = await Promise.all([store.expire(Date.now()), store.expire(Date.now())])
      assert.equal(a + b, 1)
      assert.equal(await store.expire(Date.now()), 0)
      assert.equal(await store.get(S, 'ttl', 'soon'), null)
      assert.deepEqual((await store.list(S, 'ttl')).map((i) => i.id).sort(), ['kept', 'later'])
      await until(() => records.length === 5, 'the expiry delete')
      assert.deepEqual({ kind: records[4]!.kind, id: records[4]!.id }, { kind: 'delete', id: 'soon' })
    },
  },
]
