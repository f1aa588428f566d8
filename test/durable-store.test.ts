import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { Item, LogRecord } from '../gateway/model/records.ts'
import { open as openLmdb } from 'lmdb'
import { groupPrefix, itemKey } from '../gateway/store/durable-layout.ts'
import { DurableStore } from '../gateway/store/durable-store.ts'
import type { HistoryLimit } from '../gateway/store/store.ts'

const LIMIT: HistoryLimit = { records: 1000, bytes: 8 * 1024 * 1024 }
const dirs: string[] = []
const stores: DurableStore[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamgate-durable-'))
  dirs.push(dir)
  return dir
}

async function open(dataDir: string, historyLimit = LIMIT) {
  const store = await DurableStore.open({ dataDir, historyLimit: () => historyLimit })
  stores.push(store)
  return store
}

async function reopen(store: DurableStore, dataDir: string, historyLimit = LIMIT) {
  await store.close()
  stores.splice(stores.indexOf(store), 1)
  return open(dataDir, historyLimit)
}

/** A data directory with `items` items of `pad` bytes each, its store closed again. */
async function closedStore(items: number, pad: number) {
  const dir = newDir()
  const store = await open(dir)
  await Promise.all(Array.from({ length: items }, (_, n) => store.set('s', 'g', { id: `i${n}`, pad: 'x'.repeat(pad) })))
  await store.close()
  stores.splice(stores.indexOf(store), 1)
  return { dir, file: join(dir, 'data.mdb') }
}

/** Rewrites the last run's record as a crash leaves it (still open), optionally on another boot. */
function markUnclean(dir: string, boot?: string) {
  const file = join(dir, 'run.json')
  const run = JSON.parse(readFileSync(file, 'utf8'))
  writeFileSync(file, JSON.stringify({ ...run, open: true, ...(boot ? { boot } : {}) }))
}

/** `open` must fail with exactly one line that matches. */
async function refused(dataDir: string, pattern: RegExp) {
  const error = await DurableStore.open({ dataDir, historyLimit: () => LIMIT }).then(
    (store) => (stores.push(store), undefined),
    (e: Error) => e,
  )
  expect(error?.message).toMatch(pattern)
  expect(error?.message).not.toContain('\n')
}

describe('the durable store across restarts', () => {
  it('keeps the epoch, every group’s seq, clock, items and history', async () => {
    const dir = newDir()
    const first = await open(dir)
    const before: LogRecord[] = []
    for (let n = 0; n < 5; n++) before.push((await first.set('s', 'g', { id: `i${n % 3}`, n } as Item)).record)
    before.push(await first.send('s', 'g', undefined, { type: 'ping', data: [1, 'two', { three: 3 }] }))
    await first.delete('s', 'g', 'i0')
    const snapshot = await first.snapshot('s', 'g')

    const second = await reopen(first, dir)
    expect(second.epoch).toBe(first.epoch)
    expect(await second.snapshot('s', 'g')).toEqual(snapshot)
    expect(await second.list('s', 'g')).toEqual([{ id: 'i1', n: 4 }, { id: 'i2', n: 2 }])
    const missed = await second.history('s', 'g', first.epoch, 2)
    expect(missed?.map((r) => [r.seq, r.kind])).toEqual([[3, 'create'], [4, 'update'], [5, 'update'], [6, 'event'], [7, 'delete']])
    expect(missed?.slice(0, 4)).toEqual(before.slice(2))
    const next = await second.set('s', 'g', { id: 'i9' })
    expect(next.record.seq).toBe(8)
    expect(next.record.timestamp).toBeGreaterThan(snapshot.timestamp)
  })

  it('restarts the clock above the stored one even when the wall clock is behind it', async () => {
    const dir = newDir()
    const first = await open(dir)
    const realNow = Date.now
    const ahead = realNow() + 60_000
    Date.now = () => ahead
    let stamped: number
    try {
      stamped = (await first.set('s', 'clock', { id: 'a' })).record.timestamp
    } finally {
      Date.now = realNow
    }
    const second = await reopen(first, dir)
    expect((await second.set('s', 'clock', { id: 'a' })).record.timestamp).toBe(stamped + 1)
  })

  it('starts a new epoch only when the data is gone', async () => {
    const dir = newDir()
    const first = await open(dir)
    await first.set('s', 'g', { id: 'a' })
    const { epoch } = first
    await first.close()
    stores.splice(0)
    rmSync(join(dir, 'data.mdb'))
    const second = await open(dir)
    expect(second.epoch).not.toBe(epoch)
    expect(await second.list('s', 'g')).toEqual([])
    expect(await second.history('s', 'g', epoch, 0)).toBeNull()
  })

  it('starts a new epoch for a copy of the data (a restored backup); the same file moved keeps its epoch', async () => {
    const dir = newDir()
    const first = await open(dir)
    await first.set('s', 'g', { id: 'a' })
    await first.close()
    stores.splice(0)
    const moved = `${dir}-moved`
    dirs.push(moved)
    renameSync(dir, moved)
    const again = await open(moved)
    expect(again.epoch).toBe(first.epoch)
    await again.close()
    stores.splice(0)
    const copy = newDir()
    cpSync(join(moved, 'data.mdb'), join(copy, 'data.mdb'))
    const restored = await open(copy)
    expect(restored.epoch).not.toBe(first.epoch)
    expect(await restored.list('s', 'g')).toEqual([{ id: 'a' }])
    expect(await restored.history('s', 'g', first.epoch, 0)).toBeNull()
  })

  it('starts a new epoch after an unclean stop on an earlier boot without fsync (its last writes may be lost), not with fsync', async () => {
    for (const fsync of [false, true]) {
      const dir = newDir()
      const first = await DurableStore.open({ dataDir: dir, fsync, historyLimit: () => LIMIT })
      await first.set('s', 'g', { id: 'a' })
      await first.close()
      // The run record as a power loss leaves it: still open, written under another boot.
      markUnclean(dir, 'an-earlier-boot')
      const second = await open(dir)
      if (fsync) expect(second.epoch).toBe(first.epoch)
      else expect(second.epoch).not.toBe(first.epoch)
      expect(await second.list('s', 'g')).toEqual([{ id: 'a' }])
      // A crash on the same boot (kill -9) keeps the epoch: the process lost nothing it acknowledged.
      await second.close()
      stores.splice(0)
      markUnclean(dir)
      expect((await open(dir)).epoch).toBe(second.epoch)
    }
  })

  it('after an unclean stop on an earlier boot, reads the whole file first: damaged pages are one line, not a crash', async () => {
    const { dir, file } = await closedStore(100, 3000)
    const bytes = readFileSync(file)
    bytes.fill(0x5a, 2 * 4096)
    writeFileSync(file, bytes)
    markUnclean(dir, 'an-earlier-boot')
    await refused(dir, /^data directory .* is damaged: data\.mdb has damaged pages: .*nothing was changed/)
    expect(readFileSync(file).equals(bytes)).toBe(true)
  })

  it('refuses a second owner of the directory with one line naming it, and lets it go on close', async () => {
    const dir = newDir()
    const first = await open(dir)
    await refused(dir, new RegExp(`^data directory ${dir} is in use by another streamgate process \\(pid ${process.pid}\\)$`))
    await reopen(first, dir)
  })

  it('refuses a directory of other files, a file, and damaged data without changing a byte', async () => {
    const foreign = newDir()
    writeFileSync(join(foreign, 'notes.txt'), 'mine')
    await refused(foreign, /^cannot use data directory .* holds other files \(notes\.txt\) and no data\.mdb/)
    await refused(join(foreign, 'notes.txt'), /^cannot use data directory .*notes\.txt: (EEXIST|ENOTDIR)/)

    const { dir, file } = await closedStore(200, 2000)
    const intact = readFileSync(file)

    truncateSync(file, Math.floor(intact.length / 2))
    await refused(dir, /^data directory .* is damaged: data\.mdb is truncated .*nothing was changed/)
    const damaged: Array<[string, Buffer]> = [
      ['text', Buffer.from('not a database')],
      ['zeros', Buffer.alloc(intact.length)],
      ['overwritten meta pages', Buffer.concat([Buffer.alloc(8192, 0x5a), intact.subarray(8192)])],
    ]
    for (const [, bytes] of damaged) {
      writeFileSync(file, bytes)
      await refused(dir, /^data directory .* is damaged: data\.mdb (is not an LMDB file|is too short)/)
      expect(readFileSync(file).equals(bytes)).toBe(true)
    }
    writeFileSync(file, intact)
    expect((await open(dir)).epoch).toMatch(/^[\w-]{12}$/)
  })
})

describe('the durable store on disk', () => {
  it('stays bounded under an endless update loop on a few items (history trimmed, deleted items gone)', async () => {
    const dir = newDir()
    const store = await open(dir, { records: 50, bytes: 1 << 20 })
    const pad = 'p'.repeat(1500)
    // Each round updates a few items and creates unique ones that the next round deletes: one commit a round.
    const round = (n: number) =>
      Promise.all([
        ...Array.from({ length: 40 }, (_, i) => store.set('s', `g${i % 4}`, { id: `i${i % 5}`, n, pad })),
        ...Array.from({ length: 10 }, (_, i) => store.set('s', 'g0', { id: `gone-${n}-${i}`, pad })),
        ...Array.from({ length: n > 0 ? 10 : 0 }, (_, i) => store.delete('s', 'g0', `gone-${n - 1}-${i}`)),
      ])
    for (let n = 0; n < 100; n++) await round(n)
    const settled = statSync(join(dir, 'data.mdb')).size
    for (let n = 100; n < 500; n++) await round(n)
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.delete('s', 'g0', `gone-499-${i}`)))
    const after = statSync(join(dir, 'data.mdb')).size
    // Live data: 4 groups x 50 records x ~1.5 KB plus 20 items; LMDB reuses freed pages.
    expect(after).toBeLessThanOrEqual(settled * 1.25)
    expect(after).toBeLessThan(8 * 1024 * 1024)
    expect((await store.list('s', 'g0')).map((i) => i.id).sort()).toEqual(['i0', 'i1', 'i2', 'i3', 'i4'])
  })

  it('keeps any names apart and returns exactly what was written (property)', async () => {
    const dir = newDir()
    const store = await open(dir)
    const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !/\p{Cs}/u.test(s))
    const json = fc.jsonValue({ maxDepth: 3 })
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(name, name, name), { minLength: 1, maxLength: 8, selector: ([s, g, id]) => JSON.stringify([s, g, id]) }), json, async (keys, value) => {
        const written = new Map<string, Item>()
        for (const [s, g, id] of keys) {
          const item = { id, value: value ?? null } as Item
          await store.set(`p${s}`, g, item)
          written.set(JSON.stringify([s, g, id]), item)
        }
        for (const [s, g, id] of keys) expect((await store.get(`p${s}`, g, id))?.item).toEqual(JSON.parse(JSON.stringify(written.get(JSON.stringify([s, g, id])))))
        for (const [s, g, id] of keys) await store.delete(`p${s}`, g, id)
        for (const [s, g] of keys) expect(await store.list(`p${s}`, g)).toEqual([])
      }),
      { numRuns: 60 },
    )
  })

  it('refuses names too long for a key, or with a lone surrogate (no UTF-8 form), with INVALID_ARGUMENT and changes nothing', async () => {
    const store = await open(newDir())
    await expect(store.set('s', 'g', { id: 'a\ud800' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.set('s', 'g\udfff', { id: 'a' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.set('s', 'g', { id: 'x'.repeat(3000) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.send('s'.repeat(3000), 'g', undefined, { type: 't', data: null })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    const longKey = { key: 'k'.repeat(3000), fingerprint: 'f', ttlMs: 1000 }
    await expect(store.set('s', 'g', { id: 'a' }, { idempotency: longKey })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.send('s', 'g', undefined, { type: 't', data: null }, { idempotency: longKey })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect((await store.snapshot('s', 'g')).seq).toBe(0)
    expect(await store.get('s', 'g', 'a')).toBeNull()
  })
})

describe('the durable store: versions, expiry and idempotency keys on disk', () => {
  it('keeps expiry times and idempotency keys across a reopen; keys past their time leave the disk', async () => {
    const dir = newDir()
    let store = await open(dir)
    const first = await store.set('s', 'g', { id: 'a' }, { expiresAt: Date.now() + 60_000, idempotency: { key: 'long', fingerprint: 'f', ttlMs: 3_600_000 } })
    await store.send('s', 'g', undefined, { type: 't', data: 1 }, { idempotency: { key: 'short', fingerprint: 'f', ttlMs: 60_000 } })
    store = await reopen(store, dir)
    const again = await store.set('s', 'g', { id: 'a' }, { idempotency: { key: 'long', fingerprint: 'f', ttlMs: 3_600_000 } })
    expect(again).toEqual({ ...first, replayed: true })
    await expect(store.send('s', 'g', undefined, { type: 't', data: 2 }, { idempotency: { key: 'short', fingerprint: 'other', ttlMs: 60_000 } })).rejects.toMatchObject({
      reason: 'IDEMPOTENCY_KEY_REUSED',
    })
    expect(await store.expire(Date.now())).toBe(0)
    // Two minutes on: the item is due, and the short key is past its time.
    expect(await store.expire(Date.now() + 120_000)).toBe(1)
    expect(await store.get('s', 'g', 'a')).toBeNull()
    const fresh = await store.send('s', 'g', undefined, { type: 't', data: 2 }, { idempotency: { key: 'short', fingerprint: 'other', ttlMs: 60_000 } })
    expect(fresh.seq).toBe(4)
    store = await reopen(store, dir)
    expect(await store.expire(Date.now() + 120_000)).toBe(0)
  })

  it('reads an item stored before versions existed as version 0; its next write gives it one', async () => {
    const dir = newDir()
    let store = await open(dir)
    await store.set('s', 'g', { id: 'old', v: 1 })
    await store.close()
    stores.splice(stores.indexOf(store), 1)
    const env = openLmdb({ path: dir, maxDbs: 12 })
    await env.openDB({ name: 'items', encoding: 'string', keyEncoding: 'binary' }).put(itemKey(groupPrefix('s', 'g'), 'old'), '{"created":1,"item":{"id":"old","v":1}}')
    await env.close()
    store = await open(dir)
    expect(await store.get('s', 'g', 'old')).toEqual({ item: { id: 'old', v: 1 }, version: 0 })
    await expect(store.set('s', 'g', { id: 'old', v: 2 }, { ifVersion: 1 })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' })
    expect((await store.set('s', 'g', { id: 'old', v: 2 }, { ifVersion: 0 })).record.seq).toBe(2)
    expect((await store.get('s', 'g', 'old'))?.version).toBe(2)
  })
})
