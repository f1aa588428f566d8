import { type Connection, type Endpoint, grpcSubscribe, joinFrame, type PausableConnection, sseSubscribe, subscribeRequest, wsSubscribe } from './lib/clients.ts'
import { nowUs, sleep } from './lib/clock.ts'
import { HttpConn } from './lib/http-conn.ts'
import type {
  Correctness,
  CpuUse,
  FlowJob,
  FlowResult,
  FromLoadgen,
  IdleJob,
  IdleResult,
  Job,
  PausedJob,
  PausedReader,
  PausedResult,
  SlowJob,
  SlowReadersResult,
  StormJob,
  StormResult,
  SubscribersJob,
  SubscribersResult,
  SubscribeTarget,
  ToLoadgen,
  WriterJob,
  WriterResult,
} from './lib/jobs.ts'
import { itemJson, marker, padFor, readMarker } from './lib/marker.ts'
import { type Histogram, newHistogram, Sub, summarize, Tracker } from './lib/tracker.ts'
import { type Lane, openLane, type WriteTarget } from './lib/writers.ts'

/**
 * The load generator: a process of its own (forked by bench/run.ts), never the server's. It receives one job
 * over IPC, runs it, and answers with the result, its own CPU use included. Every loop is bounded in count
 * and in time.
 */

const STREAM = 'bench'
/** Connections opened concurrently while setting a case up. */
const OPEN_CONCURRENCY = 256
/** How long a case may take to connect and sync all its subscribers. */
const OPEN_TIMEOUT_MS = 120_000
/** How long to wait, after the last write, for every subscriber to have everything. */
const DRAIN_TIMEOUT_MS = 15_000
/** A saturation lane that waits this long for one delivery counts a stall and stops. */
const STALL_MS = 10_000

const send = (message: FromLoadgen) => process.send!(message)

const inbox: ToLoadgen[] = []
let inboxWaiter: (() => void) | null = null
process.on('message', (message: ToLoadgen) => {
  inbox.push(message)
  inboxWaiter?.()
})

async function receive<T extends ToLoadgen['type']>(type: T, timeoutMs = 600_000): Promise<Extract<ToLoadgen, { type: T }>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const i = inbox.findIndex((m) => m.type === type)
    if (i >= 0) return inbox.splice(i, 1)[0] as Extract<ToLoadgen, { type: T }>
    if (Date.now() > deadline) throw new Error(`no "${type}" from the orchestrator within ${timeoutMs} ms`)
    await new Promise<void>((resolve) => {
      inboxWaiter = resolve
      setTimeout(resolve, 1000)
    })
    inboxWaiter = null
  }
}

/** CPU of this process between start() and stop(), as ms and percent of one core. */
function cpuMeter() {
  let cpu = process.cpuUsage()
  let at = nowUs()
  let result: CpuUse = { ms: 0, pct: 0 }
  return {
    start() {
      cpu = process.cpuUsage()
      at = nowUs()
    },
    stop(): CpuUse {
      const used = process.cpuUsage(cpu)
      const ms = (used.user + used.system) / 1000
      result = { ms: Math.round(ms), pct: Math.round((ms / ((nowUs() - at) / 1000)) * 1000) / 10 }
      return result
    },
    get: () => result,
  }
}

/**
 * The measured window's two marks (the orchestrator reads the server's CPU between them) and this process's
 * CPU over it. `finish()` closes the window now if its timer has not yet: the writer may stop a moment
 * before the timer fires.
 */
function measuredWindow(warmupMs: number, durationMs: number) {
  const cpu = cpuMeter()
  let state: 'before' | 'open' | 'closed' = 'before'
  const open = () => {
    if (state !== 'before') return
    state = 'open'
    cpu.start()
    send({ type: 'mark', name: 'window-start' })
  }
  const close = () => {
    if (state === 'closed') return
    if (state === 'before') open()
    state = 'closed'
    cpu.stop()
    send({ type: 'mark', name: 'window-end' })
  }
  const timers = [setTimeout(open, warmupMs), setTimeout(close, warmupMs + durationMs)]
  return {
    finish(): CpuUse {
      for (const timer of timers) clearTimeout(timer)
      close()
      return cpu.get()
    },
  }
}

const endpointFor = (target: SubscribeTarget, index: number): Endpoint => ({
  host: target.host,
  port: target.port,
  localAddress: target.srcAddrs > 1 ? `127.0.0.${2 + (index % target.srcAddrs)}` : undefined,
})

/** One subscription on its own connection; `onEnd` when the connection ends. */
function connect(target: SubscribeTarget, sub: Sub, tracker: Tracker, caseId: string, onEnd: (error?: Error) => void): Connection {
  const endpoint = endpointFor(target, sub.index)
  const handlers = {
    onMessage: (buf: Buffer, start: number, end: number, now: number, isSync: boolean) => tracker.frame(sub, buf, start, end, now, isSync),
    onOpen: () => {},
    onClose: onEnd,
  }
  switch (target.transport) {
    case 'ws':
      return wsSubscribe(endpoint, joinFrame(STREAM, sub.group, `${caseId}-${sub.index}`), handlers)
    case 'sse':
      return sseSubscribe(endpoint, `/streams/${STREAM}/${encodeURIComponent(sub.group)}`, handlers)
    case 'grpc':
      return grpcSubscribe(endpoint, subscribeRequest(STREAM, sub.group), handlers)
  }
}

/**
 * Opens every subscriber (OPEN_CONCURRENCY at a time) and resolves when each has its first sync. A
 * subscriber whose connection ends before that is retried after 2 s (as Motia's client does), up to 3 times.
 */
async function openAll(target: SubscribeTarget, subs: Sub[], tracker: Tracker, caseId: string) {
  const started = nowUs()
  const conns = new Array<Connection | undefined>(subs.length)
  const waiters = new Array<(() => void) | undefined>(subs.length)
  const previousOnSync = tracker.onSync
  tracker.onSync = (sub, now) => {
    const waiter = waiters[sub.index]
    waiters[sub.index] = undefined
    waiter?.()
    previousOnSync?.(sub, now)
  }
  let failed = 0
  let retries = 0
  let next = 0
  const deadline = Date.now() + OPEN_TIMEOUT_MS
  const openOne = async (sub: Sub) => {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) {
        retries++
        await sleep(2000)
      }
      const outcome = await new Promise<'synced' | 'ended'>((resolve) => {
        waiters[sub.index] = () => resolve('synced')
        conns[sub.index] = connect(target, sub, tracker, caseId, () => resolve('ended'))
        setTimeout(() => resolve('ended'), Math.max(1, deadline - Date.now())).unref()
      })
      if (outcome === 'synced') return
      waiters[sub.index] = undefined
      conns[sub.index]?.reset()
      if (Date.now() > deadline) break
    }
    failed++
  }
  const workers = Array.from({ length: Math.min(OPEN_CONCURRENCY, subs.length) }, async () => {
    while (next < subs.length) await openOne(subs[next++]!)
  })
  await Promise.all(workers)
  tracker.onSync = previousOnSync
  return { conns, failed, retries, ms: Math.round((nowUs() - started) / 1000) }
}

function closeAll(conns: Array<Connection | undefined>) {
  for (const conn of conns) conn?.reset()
}

const emptyCorrectness = (): Correctness => ({ lost: 0, duplicated: 0, outOfOrder: 0, misrouted: 0, badSyncs: 0, writeErrors: 0, stalls: 0 })

/** Waits until every subscriber has every record written for its keys (or the drain timeout), then counts. */
async function verify(subs: Sub[], written: ArrayLike<number>, expectedSyncs: number): Promise<Correctness> {
  const complete = (sub: Sub) => {
    for (let lk = 0; lk < sub.nKeys; lk++) if (sub.unique(lk) < written[sub.keyBase + lk]!) return false
    return true
  }
  const deadline = Date.now() + DRAIN_TIMEOUT_MS
  while (Date.now() < deadline && !subs.every(complete)) await sleep(20)
  const result = emptyCorrectness()
  for (const sub of subs) {
    for (let lk = 0; lk < sub.nKeys; lk++) result.lost += Math.max(0, written[sub.keyBase + lk]! - sub.unique(lk))
    result.duplicated += sub.duplicates
    result.outOfOrder += sub.outOfOrder
    result.misrouted += sub.misrouted
    if (sub.syncs !== expectedSyncs) result.badSyncs++
  }
  return result
}

/**
 * Open loop: a 1 ms timer issues the writes that are due (key = write number mod `keys`); a key always goes
 * through the same lane (one connection, one request at a time), so its records reach the server in order.
 * Records the writer's lateness; returns the writes issued inside the window.
 */
async function openLoop(o: {
  rate: number
  lanes: number
  keys: number
  start: number
  windowStart: number
  windowEnd: number
  written: Int32Array
  lag: Histogram
  write: (key: number, seq: number, t: number) => Promise<void>
  failed: () => boolean
  fail: (error: unknown) => void
}): Promise<number> {
  const { lanes, written } = o
  const queues = Array.from({ length: lanes }, () => [] as Array<[number, number]>)
  const busy = new Array<boolean>(lanes).fill(false)
  let writesInWindow = 0
  const pump = (lane: number) => {
    if (busy[lane] || o.failed()) return
    const next = queues[lane]!.shift()
    if (!next) return
    const [key, scheduled] = next
    busy[lane] = true
    const seq = ++written[key]!
    const t = nowUs()
    if (t >= o.windowStart && t < o.windowEnd) {
      writesInWindow++
      o.lag.recordValue(Math.max(1, Math.round(t - scheduled)))
    }
    o.write(key, seq, t).then(
      () => {
        busy[lane] = false
        pump(lane)
      },
      (error) => {
        busy[lane] = false
        o.fail(error)
      },
    )
  }
  let issued = 0
  while (!o.failed()) {
    const now = nowUs()
    if (now >= o.windowEnd) break
    const due = Math.floor(((now - o.start) / 1e6) * o.rate)
    while (issued < due) {
      const key = issued % o.keys
      queues[key % lanes]!.push([key, o.start + (issued / o.rate) * 1e6])
      issued++
      pump(key % lanes)
    }
    await sleep(1)
  }
  // Writes not sent by the end of the window are dropped (they were never written); wait for the rest.
  for (const queue of queues) queue.length = 0
  const deadline = Date.now() + DRAIN_TIMEOUT_MS
  while (busy.some(Boolean) && Date.now() < deadline) await sleep(5)
  return writesInWindow
}

/** What a flow (fan-out, many groups, slow readers) measured over its window. */
function flowFigures(n: number, connectMs: number, writesInWindow: number, tracker: Tracker, lag: Histogram, windowMs: number) {
  const seconds = windowMs / 1000
  return {
    subscribers: n,
    connectMs,
    writesInWindow,
    writesPerSec: Math.round(writesInWindow / seconds),
    delivered: tracker.deliveredInWindow,
    deliveredPerSec: Math.round(tracker.deliveredInWindow / seconds),
    latency: summarize(tracker.latency),
    writerLag: summarize(lag),
    windowMs,
  }
}

/** fan-out and many-groups. */
async function runFlow(job: FlowJob): Promise<FlowResult> {
  const { n, lanes, mode } = job
  const groups = job.kind === 'groups'
  const nKeys = groups ? n : lanes
  const tracker = new Tracker()
  const subs = Array.from({ length: n }, (_, i) => (groups ? new Sub(i, `${job.caseId}-${i}`, i, 1) : new Sub(i, job.caseId, 0, lanes)))
  const opened = await openAll(job.subscribe, subs, tracker, job.caseId)
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} subscribers did not connect and sync`)

  const written = new Int32Array(nKeys)
  const correctness = emptyCorrectness()
  const laneConns: Lane[] = Array.from({ length: lanes }, () => openLane(job.write))
  const keyWrite = (key: number, seq: number, t: number) =>
    groups
      ? laneConns[key % lanes]!.write(STREAM, `${job.caseId}-${key}`, 'i0', itemJson(key, seq, t))
      : laneConns[key]!.write(STREAM, job.caseId, `i${key}`, itemJson(key, seq, t))
  const lag = newHistogram()
  const start = nowUs()
  const windowStart = start + job.warmupMs * 1000
  const windowEnd = windowStart + job.durationMs * 1000
  tracker.windowStartUs = windowStart
  tracker.windowEndUs = windowEnd
  const measured = measuredWindow(job.warmupMs, job.durationMs)
  let writesInWindow = 0
  let failed = false
  const fail = (error: unknown) => {
    if (!failed) console.error(`write failed: ${(error as Error).message}`)
    correctness.writeErrors++
    failed = true
  }

  if (mode === 'saturation') {
    // Each lane writes its next record as soon as the record `window` places before it reached every
    // subscriber: at most lanes × window records in flight, so the rate is what the system sustains with
    // bounded queues.
    const perKey = groups ? 1 : n
    const window = job.window
    const slots = 2 * window
    const completed = new Int32Array(nKeys)
    const waiters = new Array<(() => void) | undefined>(nKeys)
    tracker.slots = slots
    tracker.remaining = new Int32Array(nKeys * slots)
    tracker.onComplete = (key) => {
      completed[key]!++
      const waiter = waiters[key]
      waiters[key] = undefined
      waiter?.()
    }
    /** Resolves false if `key` did not complete `count` records within the stall limit. */
    const completion = (key: number, count: number) =>
      completed[key]! >= count
        ? true
        : new Promise<boolean>((resolve) => {
            const stall = setTimeout(() => resolve(false), STALL_MS)
            const check = () => {
              if (completed[key]! >= count) {
                clearTimeout(stall)
                resolve(true)
              } else waiters[key] = check
            }
            waiters[key] = check
          })
    const laneLoop = async (lane: number) => {
      const keys = groups ? Array.from({ length: Math.ceil((n - lane) / lanes) }, (_, j) => lane + j * lanes) : [lane]
      if (keys.length === 0) return
      for (let j = 0; !failed && nowUs() < windowEnd; j++) {
        const key = keys[j % keys.length]!
        const seq = written[key]! + 1
        if (!(await completion(key, seq - window))) {
          correctness.stalls++
          break
        }
        written[key] = seq
        tracker.remaining![key * slots + (seq % slots)] = perKey
        const t = nowUs()
        try {
          await keyWrite(key, seq, t)
        } catch (error) {
          fail(error)
          break
        }
        if (t >= windowStart && t < windowEnd) writesInWindow++
      }
    }
    await Promise.all(Array.from({ length: lanes }, (_, lane) => laneLoop(lane)))
  } else {
    writesInWindow = await openLoop({ rate: job.rate, lanes, keys: nKeys, start, windowStart, windowEnd, written, lag, write: keyWrite, failed: () => failed, fail })
  }
  const loadgenCpu = measured.finish()
  const checked = await verify(subs, written, 1)
  for (const lane of laneConns) lane.close()
  closeAll(opened.conns)
  return {
    ...flowFigures(n, opened.ms, writesInWindow, tracker, lag, job.durationMs),
    correctness: { ...checked, writeErrors: correctness.writeErrors, stalls: correctness.stalls },
    loadgenCpu,
  }
}

/** The server's own figures for the paused readers: slow-consumer closes and queued bytes, WebSocket. */
const CLOSES_METRIC = /^streamgate_queue_limit_closes_total\{transport="websocket"\} (\d+)/m
const QUEUED_METRIC = /^streamgate_outbound_queued_bytes\{transport="websocket"\} (\d+)/m
const CONFLATED = Buffer.from('"conflated":')

interface Paused {
  conn: PausableConnection
  synced: boolean
  counting: boolean
  frames: number
  conflatedFrames: number
  /** The newest record seen per lane. */
  last: Int32Array
  closeCode: number | null
  ended: boolean
  resumedAt: number | null
}

/** One WebSocket reader that can be paused; its frames are counted, not checked (conflation skips records). */
function openPaused(job: PausedJob, index: number): Promise<Paused> {
  return new Promise((resolve, reject) => {
    const p: Paused = { conn: undefined!, synced: false, counting: false, frames: 0, conflatedFrames: 0, last: new Int32Array(job.lanes), closeCode: null, ended: false, resumedAt: null }
    const timer = setTimeout(() => reject(new Error(`paused reader ${index} did not sync within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS)
    p.conn = wsSubscribe(endpointFor(job.subscribe, index), joinFrame(STREAM, job.caseId, `${job.caseId}-${index}`), {
      onMessage: (buf, start, end, _now, isSync) => {
        if (isSync) {
          p.synced = true
          clearTimeout(timer)
          resolve(p)
          return
        }
        if (p.counting) {
          p.frames++
          // Within the frame only: indexOf on the shared read buffer would scan to its end for every frame.
          if (buf.subarray(start, end).indexOf(CONFLATED) >= 0) p.conflatedFrames++
        }
        if (readMarker(buf, start, end) && marker.key < job.lanes) p.last[marker.key] = Math.max(p.last[marker.key]!, marker.seq)
      },
      onOpen: () => {},
      onClose: (error) => {
        p.ended = true
        if (!p.synced) {
          clearTimeout(timer)
          reject(error ?? new Error(`paused reader ${index} closed before its sync`))
        }
      },
      onCloseFrame: (code) => (p.closeCode = code),
    })
  })
}

/**
 * slow readers, the readers and the writer: their rate and latency (while the paused readers, in another
 * process, stop reading), the same checks as fan-out.
 */
async function runSlow(job: SlowJob): Promise<SlowReadersResult> {
  const { n, lanes } = job
  const tracker = new Tracker()
  const readers = Array.from({ length: n }, (_, i) => new Sub(i, job.caseId, 0, lanes))
  const opened = await openAll(job.subscribe, readers, tracker, job.caseId)
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} readers did not connect and sync`)
  const written = new Int32Array(lanes)
  const laneConns: Lane[] = Array.from({ length: lanes }, () => openLane(job.write))
  // Lanes 0 .. lanes/2-1 rewrite their item (conflatable); the others create a new item each write.
  const hot = lanes / 2
  const pad = padFor(job.itemBytes)
  const keyWrite = (key: number, seq: number, t: number) => laneConns[key]!.write(STREAM, job.caseId, key < hot ? `i${key}` : `i${key}-${seq}`, itemJson(key, seq, t, pad))
  const lag = newHistogram()
  const start = nowUs()
  const windowStart = start + job.warmupMs * 1000
  const windowEnd = windowStart + job.durationMs * 1000
  tracker.windowStartUs = windowStart
  tracker.windowEndUs = windowEnd
  const measured = measuredWindow(job.warmupMs, job.durationMs)
  let failed = false
  const fail = (error: unknown) => {
    if (!failed) console.error(`write failed: ${(error as Error).message}`)
    failed = true
  }
  const writesInWindow = await openLoop({ rate: job.rate, lanes, keys: lanes, start, windowStart, windowEnd, written, lag, write: keyWrite, failed: () => failed, fail })
  const loadgenCpu = measured.finish()
  const checked = await verify(readers, written, 1)
  for (const lane of laneConns) lane.close()
  closeAll(opened.conns)
  return {
    ...flowFigures(n, opened.ms, writesInWindow, tracker, lag, job.durationMs),
    readers: n,
    correctness: { ...checked, writeErrors: failed ? 1 : 0 },
    loadgenCpu,
    perKey: Array.from(written),
  }
}

/**
 * slow readers, the paused ones: the close at the hard limit (the server's counter; the close frame, if it
 * got out) and the server's queued bytes. Conflation is seen by one more paused reader, the probe, resumed
 * once its queue is past the soft limit and below the hard one: the frames the server then flushes to it
 * carry `conflated`. (A reader closed at the hard limit never sees a conflated frame: its queue is dropped
 * with the connection.)
 */
async function runPaused(job: PausedJob): Promise<PausedResult> {
  const paused: Paused[] = []
  for (let i = 0; i < job.paused; i++) paused.push(await openPaused(job, job.firstIndex + i))
  const probe = await openPaused(job, job.firstIndex + job.paused)
  const stopped = [probe, ...paused]
  send({ type: 'mark', name: 'ready' })
  await receive('continue')

  const metrics = new HttpConn(job.subscribe.host, job.subscribe.port)
  const scrape = async () => {
    const text = (await metrics.request('GET', '/metrics', '')).body.toString()
    return { closes: Number(CLOSES_METRIC.exec(text)?.[1] ?? 0), queued: Number(QUEUED_METRIC.exec(text)?.[1] ?? 0) }
  }
  const closes0 = (await scrape()).closes
  const pausedAt = nowUs()
  const end = pausedAt + job.durationMs * 1000
  for (const p of stopped) {
    p.counting = true
    p.conn.pause()
  }
  send({ type: 'mark', name: 'paused' })
  const resume = (p: Paused) => {
    if (p.resumedAt !== null) return
    p.resumedAt = nowUs()
    p.conn.resume()
  }
  const closesAfterS: number[] = []
  let peakQueuedBytes = 0
  // The gauge also counts the readers' frames of a delivery round not yet flushed; between rounds their
  // queues are empty, so the lowest of the last three scrapes (150 ms) is what the paused readers hold.
  const recent: number[] = []
  for (;;) {
    const scraped = await scrape()
    const at = Math.round((nowUs() - pausedAt) / 1e4) / 100
    while (closesAfterS.length < scraped.closes - closes0) closesAfterS.push(at)
    recent.push(scraped.queued)
    if (recent.length > 3) recent.shift()
    const queued = Math.min(...recent)
    peakQueuedBytes = Math.max(peakQueuedBytes, queued)
    // Every paused queue holds about the same: once the mean is halfway between the limits, the probe reads
    // again and gets its conflated queue.
    const stillPaused = stopped.filter((p) => p.resumedAt === null).length - closesAfterS.length
    if (probe.resumedAt === null && stillPaused > 0 && queued / stillPaused >= (job.conflateBytes + job.maxQueueBytes) / 2) resume(probe)
    // The paused readers, once the server closed them all (or at the end of the window): they read what the
    // kernel kept for them, then the close frame if it got out before the server's 1 s terminate.
    if (closesAfterS.length >= paused.length || nowUs() >= end) {
      for (const p of stopped) resume(p)
      break
    }
    await sleep(50)
  }
  const deadline = Date.now() + 5000
  while (paused.some((p) => !p.ended) && Date.now() < deadline) await sleep(20)
  send({ type: 'mark', name: 'paused-closed' })
  metrics.close()

  // The probe must end with the last record of every lane, as a reader that never paused.
  const { perKey } = await receive('verify')
  const caughtUp = (p: Paused) => perKey.every((seq, key) => p.last[key] === seq)
  const drained = Date.now() + DRAIN_TIMEOUT_MS
  while (!probe.ended && !caughtUp(probe) && Date.now() < drained) await sleep(20)
  for (const p of stopped) p.conn.reset()
  const report = (p: Paused): PausedReader => ({
    resumedAfterS: p.resumedAt === null ? null : Math.round((p.resumedAt - pausedAt) / 1e4) / 100,
    frames: p.frames,
    conflatedFrames: p.conflatedFrames,
    closeCode: p.closeCode,
    ended: p.ended,
    caughtUp: caughtUp(p),
  })
  return { paused: paused.map(report), probe: report(probe), closesAfterS, peakQueuedBytes }
}

/** C idle subscriptions, held until the orchestrator has measured the server's memory. */
async function runIdle(job: IdleJob): Promise<IdleResult> {
  const tracker = new Tracker()
  const subs = Array.from({ length: job.c }, (_, i) => new Sub(i, job.ownGroups ? `${job.caseId}-${i}` : job.caseId, 0, 1))
  const opened = await openAll(job.subscribe, subs, tracker, job.caseId)
  send({ type: 'mark', name: 'ready' })
  await receive('continue')
  closeAll(opened.conns)
  return { connected: job.c - opened.failed, failed: opened.failed, connectMs: opened.ms }
}

/** Writes `count` items to a group, one after another (storm set-up). */
async function seedGroup(target: WriteTarget, groupId: string, count: number) {
  const lane = openLane(target)
  try {
    for (let i = 0; i < count; i++) await lane.write(STREAM, groupId, `s${i}`, itemJson(1_000_000 + i, 1, nowUs()))
  } finally {
    lane.close()
  }
}

/**
 * C subscribers, all dropped at once (TCP RST, like a network cut), all back `delayMs` later: the time until
 * every one of them has its new sync, and how the server's memory behaves (measured by the orchestrator).
 */
async function runStorm(job: StormJob): Promise<StormResult> {
  await seedGroup(job.write, job.caseId, job.items)
  const tracker = new Tracker()
  const subs = Array.from({ length: job.c }, (_, i) => new Sub(i, job.caseId, 0, 1))
  const opened = await openAll(job.subscribe, subs, tracker, job.caseId)
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${job.c} subscribers did not connect and sync`)
  send({ type: 'mark', name: 'idle' })
  await receive('continue')

  closeAll(opened.conns)
  await sleep(job.delayMs)
  const cpu = cpuMeter()
  send({ type: 'mark', name: 'storm-start' })
  const t0 = nowUs()
  const resyncAt = new Float64Array(job.c)
  let resynced = 0
  let retries = 0
  let allDone: () => void = () => {}
  const done = new Promise<void>((resolve) => (allDone = resolve))
  tracker.onSync = (sub, now) => {
    if (resyncAt[sub.index] !== 0) return
    resyncAt[sub.index] = now
    if (++resynced === job.c) allDone()
  }
  const conns = new Array<Connection | undefined>(job.c)
  const deadline = Date.now() + 60_000
  const join = (i: number) => {
    const sub = subs[i]!
    conns[i] = connect(job.subscribe, sub, tracker, job.caseId, () => {
      // Like Motia's client: a connection lost before its sync comes back 2 s later.
      if (resyncAt[i] !== 0 || Date.now() > deadline) return
      retries++
      setTimeout(() => join(i), 2000)
    })
  }
  // Issue the wave: everyone at once (in slices of 500 per event-loop turn, so the load generator keeps
  // reading), or spread uniformly over spreadMs.
  for (let i = 0; i < job.c; ) {
    if (job.spreadMs > 0) {
      const due = Math.min(job.c, Math.floor(((nowUs() - t0) / 1000 / job.spreadMs) * job.c) + 1)
      while (i < due) join(i++)
      await sleep(1)
    } else {
      const end = Math.min(job.c, i + 500)
      while (i < end) join(i++)
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const issueMs = Math.round((nowUs() - t0) / 1000)
  await Promise.race([done, sleep(Math.max(0, deadline - Date.now()))])
  const cpuUse = cpu.stop()
  const times = [...resyncAt].filter((t) => t > 0).map((t) => (t - t0) / 1000).sort((a, b) => a - b)
  const pick = (q: number) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10 : 0)
  send({ type: 'mark', name: 'resynced' })
  await receive('continue')
  closeAll(conns)
  return {
    clients: job.c,
    resynced,
    failed: job.c - resynced,
    retries,
    recoveryMs: times.length ? Math.round(times.at(-1)! * 10) / 10 : 0,
    resyncP50Ms: pick(0.5),
    resyncP99Ms: pick(0.99),
    badSnapshots: subs.filter((s) => s.syncs !== 2 || s.syncItems !== job.items).length,
    issueMs,
    loadgenCpu: cpuUse,
  }
}

/** The subscribers of the writes scenario: connect, report ready, then check everything the writer wrote. */
async function runSubscribers(job: SubscribersJob): Promise<SubscribersResult> {
  const tracker = new Tracker()
  tracker.windowStartUs = 0
  const subs = Array.from({ length: job.n }, (_, i) => new Sub(i, job.caseId, 0, job.lanes))
  const opened = await openAll(job.subscribe, subs, tracker, job.caseId)
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${job.n} subscribers did not connect and sync`)
  const cpu = cpuMeter()
  send({ type: 'mark', name: 'ready' })
  const { perKey } = await receive('verify')
  const correctness = await verify(subs, perKey, 1)
  const cpuUse = cpu.stop()
  closeAll(opened.conns)
  return { subscribers: job.n, delivered: tracker.deliveredTotal, latency: summarize(tracker.latency), correctness, loadgenCpu: cpuUse }
}

/** The writer of the writes scenario: Set latency from request to answer, over each API. */
async function runWriter(job: WriterJob): Promise<WriterResult> {
  const { lanes, mode } = job
  if (job.write.kind === 'inproc') {
    const conn = new HttpConn(job.write.host, job.write.port)
    const body = JSON.stringify({ groupId: job.caseId, mode, rate: job.rate, lanes, warmupMs: job.warmupMs, durationMs: job.durationMs })
    const measured = measuredWindow(job.warmupMs, job.durationMs)
    const answer = await conn.request('POST', '/__bench/inproc', body)
    const loadgenCpu = measured.finish()
    conn.close()
    if (answer.status !== 200) throw new Error(`in-process run failed: HTTP ${answer.status} ${answer.body.toString()}`)
    const result = JSON.parse(answer.body.toString()) as Omit<WriterResult, 'loadgenCpu' | 'writeErrors' | 'writerLag' | 'perKey'> & {
      perLane: number[]
      loopLag: WriterResult['writerLag']
    }
    return {
      written: result.written,
      perKey: result.perLane,
      writesInWindow: result.writesInWindow,
      writesPerSec: Math.round(result.writesPerSec),
      latency: result.latency,
      writerLag: result.loopLag,
      writeErrors: 0,
      loadgenCpu,
    }
  }
  const target = job.write
  const laneConns = Array.from({ length: lanes }, () => openLane(target))
  const written = new Array<number>(lanes).fill(0)
  const latency = newHistogram()
  const lag = newHistogram()
  let writesInWindow = 0
  let writeErrors = 0
  // Open every lane's connection before measuring.
  await Promise.all(laneConns.map((lane, key) => lane.write(STREAM, job.caseId, `i${key}`, itemJson(key, ++written[key]!, nowUs()))))
  const start = nowUs()
  const windowStart = start + job.warmupMs * 1000
  const windowEnd = windowStart + job.durationMs * 1000
  const measured = measuredWindow(job.warmupMs, job.durationMs)
  const writeOne = async (key: number) => {
    const t = nowUs()
    await laneConns[key]!.write(STREAM, job.caseId, `i${key}`, itemJson(key, ++written[key]!, t))
    if (t >= windowStart && t < windowEnd) {
      writesInWindow++
      latency.recordValue(Math.max(1, Math.round(nowUs() - t)))
    }
  }
  if (mode === 'saturation') {
    await Promise.all(
      laneConns.map(async (_, key) => {
        while (nowUs() < windowEnd && writeErrors === 0) await writeOne(key).catch(() => writeErrors++)
      }),
    )
  } else {
    const queues = Array.from({ length: lanes }, () => [] as number[])
    const busy = new Array<boolean>(lanes).fill(false)
    const pump = (key: number) => {
      const scheduled = busy[key] ? undefined : queues[key]!.shift()
      if (scheduled === undefined) return
      busy[key] = true
      const now = nowUs()
      if (now >= windowStart && now < windowEnd) lag.recordValue(Math.max(1, Math.round(now - scheduled)))
      writeOne(key)
        .catch(() => writeErrors++)
        .finally(() => {
          busy[key] = false
          pump(key)
        })
    }
    let issued = 0
    while (writeErrors === 0) {
      const now = nowUs()
      if (now >= windowEnd) break
      const due = Math.floor(((now - start) / 1e6) * job.rate)
      while (issued < due) {
        queues[issued % lanes]!.push(start + (issued / job.rate) * 1e6)
        pump(issued % lanes)
        issued++
      }
      await sleep(1)
    }
    for (const queue of queues) queue.length = 0
    const deadline = Date.now() + DRAIN_TIMEOUT_MS
    while (busy.some(Boolean) && Date.now() < deadline) await sleep(5)
  }
  const loadgenCpu = measured.finish()
  for (const lane of laneConns) lane.close()
  return {
    written: written.reduce((a, b) => a + b, 0),
    perKey: written,
    writesInWindow,
    writesPerSec: Math.round(writesInWindow / (job.durationMs / 1000)),
    latency: summarize(latency),
    writerLag: summarize(lag),
    writeErrors,
    loadgenCpu,
  }
}

async function run(job: Job) {
  switch (job.kind) {
    case 'fanout':
    case 'groups':
      return runFlow(job)
    case 'idle':
      return runIdle(job)
    case 'storm':
      return runStorm(job)
    case 'subscribers':
      return runSubscribers(job)
    case 'writer':
      return runWriter(job)
    case 'slow':
      return runSlow(job)
    case 'paused':
      return runPaused(job)
  }
}

const { job } = await receive('run', 60_000)
try {
  send({ type: 'result', result: await run(job) })
} catch (error) {
  send({ type: 'error', message: (error as Error).stack ?? String(error) })
}
// Let the IPC message flush, then leave (sockets reset above; nothing else keeps us).
setTimeout(() => process.exit(0), 200)
