import * as hdr from 'hdr-histogram-js'
import { countMarkers, marker, readMarker } from './marker.ts'

/** Latencies are recorded in µs, from 1 µs to 10 minutes, 3 significant digits. */
export const newHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
export type Histogram = ReturnType<typeof newHistogram>

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

/** A histogram of µs summarised in ms. */
export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  }
}

const CONFLATED = Buffer.from('"conflated":')

/**
 * How many changes the frame in buf[start, end) stands for: its `"conflated"` count, else 1. The gateway puts
 * the key last (gateway/transports/motia-frames.ts), so only the frame's tail is searched: the load generator
 * reads buffers of many frames, and a search to the buffer's end per frame would make it the bottleneck.
 */
function conflatedCount(buf: Buffer, start: number, end: number): number {
  const tail = Math.max(start, end - 32)
  const found = buf.subarray(tail, end).indexOf(CONFLATED)
  if (found < 0) return 1
  let n = 0
  for (let i = tail + found + CONFLATED.length; i < end && buf[i]! >= 48 && buf[i]! <= 57; i++) n = n * 10 + buf[i]! - 48
  return n || 1
}

/**
 * One subscriber's view: which keys it must receive (keyBase .. keyBase+nKeys-1), the next sequence number
 * it expects for each, and every deviation. A record is "received" the first time its (key, seq) arrives.
 */
export class Sub {
  syncs = 0
  /** Markers in the last sync snapshot (its items). */
  syncItems = -1
  /** When the first / the last sync arrived (µs since the shared origin). */
  firstSyncAt = 0
  lastSyncAt = 0
  duplicates = 0
  outOfOrder = 0
  misrouted = 0
  unmarked = 0
  readonly next: Int32Array
  private ahead: Map<number, Set<number>> | null = null

  constructor(
    readonly index: number,
    readonly group: string,
    readonly keyBase: number,
    readonly nKeys: number,
  ) {
    this.next = new Int32Array(nKeys).fill(1)
  }

  /** Records received for local key lk (in order, plus those that arrived ahead of a gap). */
  unique(lk: number): number {
    return this.next[lk]! - 1 + (this.ahead?.get(lk)?.size ?? 0)
  }

  /** Returns true on the first receipt of (key, seq). */
  accept(lk: number, seq: number): boolean {
    const expected = this.next[lk]!
    if (seq === expected) {
      let n = expected + 1
      const ahead = this.ahead?.get(lk)
      if (ahead) while (ahead.delete(n)) n++
      this.next[lk] = n
      return true
    }
    if (seq < expected) {
      this.duplicates++
      return false
    }
    this.ahead ??= new Map()
    let ahead = this.ahead.get(lk)
    if (!ahead) this.ahead.set(lk, (ahead = new Set()))
    if (ahead.has(seq)) {
      this.duplicates++
      return false
    }
    this.outOfOrder++
    ahead.add(seq)
    return true
  }
}

/**
 * Everything the subscribers of one load-generator process see: latency of the records written inside the
 * measurement window, delivery counts, and (for saturation) the delivery of each key's in-flight record.
 */
export class Tracker {
  readonly latency = newHistogram()
  windowStartUs = Number.POSITIVE_INFINITY
  windowEndUs = Number.POSITIVE_INFINITY
  deliveredInWindow = 0
  deliveredTotal = 0
  /** Records received only as part of a conflated frame (not counted as delivered, no latency). */
  conflated = 0
  /**
   * Saturation gating: for each key, a ring of `slots` counters (slot = seq % slots) of subscribers that still
   * have to receive that record; `onComplete(key)` when one reaches zero.
   */
  remaining: Int32Array | null = null
  slots = 1
  onComplete: ((key: number) => void) | null = null
  onSync: ((sub: Sub, nowUs: number) => void) | null = null

  frame(sub: Sub, buf: Buffer, start: number, end: number, nowUs: number, isSync: boolean) {
    if (isSync) {
      sub.syncs++
      sub.syncItems = countMarkers(buf, start, end)
      if (sub.syncs === 1) sub.firstSyncAt = nowUs
      sub.lastSyncAt = nowUs
      this.onSync?.(sub, nowUs)
      return
    }
    if (!readMarker(buf, start, end)) {
      sub.unmarked++
      return
    }
    const key = marker.key
    const lk = key - sub.keyBase
    if (lk < 0 || lk >= sub.nKeys) {
      sub.misrouted++
      return
    }
    // A frame that stands for merged changes of its item (a connection behind by more than the gateway's
    // conflation threshold) carries the newest one and `"conflated": k`: it delivers the k - 1 before it too.
    const merged = conflatedCount(buf, start, end)
    const { seq: newest, t } = marker
    for (let seq = Math.max(1, newest - merged + 1); seq < newest; seq++) {
      if (!sub.accept(lk, seq)) continue
      this.conflated++
      this.received(key, seq)
    }
    if (!sub.accept(lk, newest)) return
    this.deliveredTotal++
    if (t >= this.windowStartUs && t < this.windowEndUs) {
      this.deliveredInWindow++
      const us = Math.round(nowUs - t)
      this.latency.recordValue(us < 1 ? 1 : us)
    }
    this.received(key, newest)
  }

  /** Saturation gating: one subscriber fewer still waits for (key, seq). */
  private received(key: number, seq: number) {
    const remaining = this.remaining
    if (remaining !== null && --remaining[key * this.slots + (seq % this.slots)]! === 0) this.onComplete!(key)
  }
}
