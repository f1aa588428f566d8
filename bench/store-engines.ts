/**
 * Which embedded engine should hold the durable store? This measures the write the store does for one `Set`
 * (read the item, upsert it, upsert the group's meta, append the record to the history and drop the record
 * that falls out of it, all in one transaction) with group commit: every write of one event-loop turn shares
 * one commit, and a write resolves only once its commit is done (with fsync: once the disk has it).
 *
 *   node --import tsx bench/store-engines.ts [--seconds S] [--out FILE]
 *
 * better-sqlite3 is not a dependency of the project (it builds from source on `npm ci`, see
 * bench/results/store-engines.md): `npm install --no-save better-sqlite3@12.11.1` before running, or its rows
 * are skipped.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import * as hdr from 'hdr-histogram-js'
import { open as openLmdb } from 'lmdb'
import { itemJson } from './lib/marker.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, out: { type: 'string' } } })
const SECONDS = Number(values.seconds)
const TMP = new URL('./.tmp/engines/', import.meta.url).pathname
const GROUPS = 10
const ITEMS = 100
const HISTORY = 1000

/** One engine in one durability mode: `write` resolves when the write is as durable as the mode promises. */
interface Engine {
  name: string
  write(group: number, id: number, json: string): Promise<void>
  close(): Promise<void>
}

interface Meta {
  seq: number
  ts: number
}

/** The records a group's history holds, so the write can drop the oldest, as the store does. */
const metaOf = (metas: Map<number, Meta>, group: number) => {
  let meta = metas.get(group)
  if (!meta) metas.set(group, (meta = { seq: 0, ts: 0 }))
  meta.seq += 1
  meta.ts = Math.max(Date.now(), meta.ts + 1)
  return meta
}

function lmdbEngine(dir: string, mode: 'commit' | 'flushed' | 'nosync'): Engine {
  const env = openLmdb({ path: dir, noSync: mode === 'nosync', maxDbs: 4 })
  const items = env.openDB({ name: 'items' })
  const meta = env.openDB({ name: 'meta' })
  const history = env.openDB({ name: 'history' })
  const metas = new Map<number, Meta>()
  return {
    name: { commit: 'lmdb, ack at commit (fsync in the background)', flushed: 'lmdb, ack after fsync', nosync: 'lmdb noSync (no fsync at all)' }[mode],
    async write(group, id, json) {
      const previous = items.get([group, id])
      const m = metaOf(metas, group)
      items.put([group, id], { created: previous?.created ?? m.seq, item: json })
      meta.put(group, m)
      history.put([group, m.seq], { seq: m.seq, ts: m.ts, kind: previous ? 'update' : 'create', item: json })
      const done = history.remove([group, m.seq - HISTORY])
      await done
      if (mode === 'flushed') await env.flushed
    },
    close: () => env.close(),
  }
}

/** The part of better-sqlite3's API used here (it is not installed with the project, so neither are its types). */
interface SqliteDatabase {
  pragma(sql: string): unknown
  exec(sql: string): void
  prepare(sql: string): { get(...args: unknown[]): unknown; run(...args: unknown[]): unknown }
  transaction<A>(fn: (arg: A) => void): (arg: A) => void
  close(): void
}

/**
 * LMDB with the store doing its own group commit: the writes of a turn are queued and applied by one
 * `transaction()` callback (direct puts inside the write transaction) instead of one queued operation each.
 */
function lmdbTransactionEngine(dir: string, mode: 'commit' | 'flushed'): Engine {
  const env = openLmdb({ path: dir, maxDbs: 4 })
  const items = env.openDB({ name: 'items', encoding: 'json' })
  const meta = env.openDB({ name: 'meta', encoding: 'json' })
  const history = env.openDB({ name: 'history', encoding: 'json' })
  const metas = new Map<number, Meta>()
  let queue: Array<() => void> = []
  let batch: Promise<unknown> | undefined
  const apply = () => {
    batch = undefined
    const ops = queue
    queue = []
    for (const op of ops) op()
  }
  return {
    name: `lmdb, one transaction() per turn, ${mode === 'commit' ? 'ack at commit' : 'ack after fsync'}`,
    async write(group, id, json) {
      queue.push(() => {
        const previous = items.get([group, id]) as { created: number } | undefined
        const m = metaOf(metas, group)
        items.put([group, id], { created: previous?.created ?? m.seq, item: json })
        meta.put(group, m)
        history.put([group, m.seq], { seq: m.seq, ts: m.ts, kind: previous ? 'update' : 'create', item: json })
        history.remove([group, m.seq - HISTORY])
      })
      batch ??= env.transaction(apply)
      await batch
      if (mode === 'flushed') await env.flushed
    },
    close: () => env.close(),
  }
}

async function sqliteEngine(dir: string, synchronous: 'NORMAL' | 'FULL'): Promise<Engine | undefined> {
  let Database: new (file: string) => SqliteDatabase
  try {
    Database = (await import('better-sqlite3' as string)).default
  } catch {
    return undefined
  }
  const db = new Database(join(dir, 'store.db'))
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(`
    CREATE TABLE items (g INTEGER, id INTEGER, created INTEGER, item TEXT, PRIMARY KEY (g, id)) WITHOUT ROWID;
    CREATE TABLE meta (g INTEGER PRIMARY KEY, seq INTEGER, ts INTEGER);
    CREATE TABLE history (g INTEGER, seq INTEGER, record TEXT, PRIMARY KEY (g, seq)) WITHOUT ROWID;`)
  const getItem = db.prepare('SELECT created FROM items WHERE g = ? AND id = ?')
  const putItem = db.prepare('INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)')
  const putMeta = db.prepare('INSERT OR REPLACE INTO meta VALUES (?, ?, ?)')
  const append = db.prepare('INSERT INTO history VALUES (?, ?, ?)')
  const trim = db.prepare('DELETE FROM history WHERE g = ? AND seq = ?')
  const metas = new Map<number, Meta>()
  // Group commit by hand: better-sqlite3 is synchronous, so the writes of one turn are queued and committed
  // together on the next one (the commit, and its fsync, block the event loop).
  let queue: Array<{ run(): void; resolve(): void; reject(error: unknown): void }> = []
  const commit = db.transaction((batch: typeof queue) => {
    for (const op of batch) op.run()
  })
  const flush = () => {
    const batch = queue
    queue = []
    try {
      commit(batch)
      for (const op of batch) op.resolve()
    } catch (error) {
      for (const op of batch) op.reject(error)
    }
  }
  return {
    name: synchronous === 'NORMAL' ? 'sqlite WAL, synchronous=NORMAL (fsync at checkpoints)' : 'sqlite WAL, synchronous=FULL (fsync per commit)',
    write(group, id, json) {
      return new Promise((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush)
        queue.push({
          run() {
            const previous = getItem.get(group, id) as { created: number } | undefined
            const m = metaOf(metas, group)
            putItem.run(group, id, previous?.created ?? m.seq, json)
            putMeta.run(group, m.seq, m.ts)
            append.run(group, m.seq, JSON.stringify({ seq: m.seq, ts: m.ts, kind: previous ? 'update' : 'create', item: json }))
            trim.run(group, m.seq - HISTORY)
          },
          resolve,
          reject,
        })
      })
    },
    async close() {
      db.close()
    },
  }
}

/** The same work with nothing on disk: what the memory store's write costs, for the ratio. */
function memoryEngine(): Engine {
  const items = new Map<string, { created: number; item: string }>()
  const history = new Map<number, Map<number, unknown>>()
  const metas = new Map<number, Meta>()
  return {
    name: 'memory (no disk), for reference',
    async write(group, id, json) {
      const previous = items.get(`${group}:${id}`)
      const m = metaOf(metas, group)
      items.set(`${group}:${id}`, { created: previous?.created ?? m.seq, item: json })
      let h = history.get(group)
      if (!h) history.set(group, (h = new Map()))
      h.set(m.seq, { seq: m.seq, ts: m.ts, kind: previous ? 'update' : 'create', item: json })
      h.delete(m.seq - HISTORY)
    },
    async close() {},
  }
}

interface Row {
  engine: string
  inFlight: number
  writesPerSec: number
  p50: number
  p99: number
  max: number
  /** Event-loop (main thread) busy time per write: what the gateway's own thread pays. */
  mainUs: number
  /** CPU of all the process's threads (the engine's own included) per write. */
  cpuUs: number
}

/** `inFlight` closed-loop writers for SECONDS (after a short warm-up); latency is call to resolution. */
async function measure(engine: Engine, inFlight: number): Promise<Row> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
  let recording = false
  let stop = false
  let count = 0
  let n = 0
  const writer = async () => {
    while (!stop) {
      // A write that resolves without I/O (the memory row) would otherwise never let the timers run.
      if (n % 1024 === 0) await new Promise(setImmediate)
      const k = n++
      const started = performance.now()
      await engine.write(k % GROUPS, Math.floor(k / GROUPS) % ITEMS, itemJson(k % ITEMS, k, started * 1000))
      if (recording) {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)))
        count++
      }
    }
  }
  const writers = Array.from({ length: inFlight }, writer)
  await new Promise((r) => setTimeout(r, 500))
  recording = true
  const started = performance.now()
  const elu = performance.eventLoopUtilization()
  const cpu = process.cpuUsage()
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  recording = false
  const elapsed = (performance.now() - started) / 1000
  const busy = performance.eventLoopUtilization(elu)
  const used = process.cpuUsage(cpu)
  stop = true
  await Promise.all(writers)
  const ms = (us: number) => Math.round(us / 10) / 100
  return {
    engine: engine.name,
    inFlight,
    writesPerSec: Math.round(count / elapsed),
    p50: ms(histogram.getValueAtPercentile(50)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.maxValue),
    mainUs: Math.round((busy.active * 1000) / count),
    cpuUs: Math.round((used.user + used.system) / count),
  }
}

const factories: Array<(dir: string) => Engine | undefined | Promise<Engine | undefined>> = [
  () => memoryEngine(),
  (dir) => lmdbEngine(dir, 'commit'),
  (dir) => lmdbEngine(dir, 'nosync'),
  (dir) => lmdbEngine(dir, 'flushed'),
  (dir) => lmdbTransactionEngine(dir, 'commit'),
  (dir) => lmdbTransactionEngine(dir, 'flushed'),
  (dir) => sqliteEngine(dir, 'NORMAL'),
  (dir) => sqliteEngine(dir, 'FULL'),
]

const rows: Row[] = []
for (const inFlight of [1, 1000]) {
  for (const [i, factory] of factories.entries()) {
    const dir = join(TMP, `${i}-${inFlight}`)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const engine = await factory(dir)
    if (!engine) {
      if (inFlight === 1) console.error('better-sqlite3 is not installed: its rows are skipped (npm install --no-save better-sqlite3@12.11.1)')
      continue
    }
    const row = await measure(engine, inFlight)
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
    rows.push(row)
    console.error(`${row.engine} @${inFlight}: ${row.writesPerSec}/s p50 ${row.p50} ms p99 ${row.p99} ms`)
  }
}

const table = [
  '| engine | writes in flight | writes/s | p50 ms | p99 ms | max ms | main thread µs/write | CPU µs/write |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.engine} | ${r.inFlight} | ${r.writesPerSec.toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.max} | ${r.mainUs} | ${r.cpuUs} |`),
].join('\n')
console.log(table)
if (values.out) writeFileSync(values.out, `${table}\n`)
