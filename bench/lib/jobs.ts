import type { LatencySummary } from './tracker.ts'
import type { WriteTarget } from './writers.ts'

/** What the orchestrator asks a load-generator process to do, and what it answers. */

export type Transport = 'ws' | 'sse' | 'grpc'
export type Mode = 'fixed' | 'saturation'

export interface SubscribeTarget {
  transport: Transport
  host: string
  port: number
  /** Spread connections over 127.0.0.2 .. 127.0.0.(1+srcAddrs) when > 1 (more ephemeral ports). */
  srcAddrs: number
}

interface JobBase {
  /** Names the groups of this case, so cases sharing a server never see each other's items. */
  caseId: string
}

/** fan-out: n subscribers on one group, `lanes` items written in turn. groups: n subscribers on n groups. */
export interface FlowJob extends JobBase {
  kind: 'fanout' | 'groups'
  subscribe: SubscribeTarget
  write: WriteTarget
  n: number
  mode: Mode
  /** Writes per second (fixed mode). */
  rate: number
  lanes: number
  /** Saturation: records per lane that may be written but not yet delivered to every subscriber. */
  window: number
  warmupMs: number
  durationMs: number
}

export interface IdleJob extends JobBase {
  kind: 'idle'
  subscribe: SubscribeTarget
  c: number
  ownGroups: boolean
}

export interface StormJob extends JobBase {
  kind: 'storm'
  subscribe: SubscribeTarget
  write: WriteTarget
  c: number
  /** Items in the group before the storm: every re-sync carries them. */
  items: number
  /** Motia's clients come back a fixed 2 s after the close. */
  delayMs: number
  /** 0: every client reconnects at once; else spread uniformly over this many ms. */
  spreadMs: number
}

/** The subscribers of the writes scenario, in a process of their own (so they never delay the writer). */
export interface SubscribersJob extends JobBase {
  kind: 'subscribers'
  subscribe: SubscribeTarget
  n: number
  lanes: number
}

/** The writer of the writes scenario: request latency (send to answer), or in-process through the gateway. */
export interface WriterJob extends JobBase {
  kind: 'writer'
  write: WriteTarget | { kind: 'inproc'; host: string; port: number }
  mode: Mode
  rate: number
  lanes: number
  warmupMs: number
  durationMs: number
}

/**
 * slow readers, the readers and the writer: n WebSocket subscribers on one group that keep reading, one writer
 * at a fixed rate over `lanes` lanes, half of them rewriting one item each (conflatable), half creating a new
 * item with every write (never merged, so a paused reader's queue grows to the hard limit).
 */
export interface SlowJob extends JobBase {
  kind: 'slow'
  subscribe: SubscribeTarget
  write: WriteTarget
  n: number
  rate: number
  lanes: number
  /** Item size: the byte rate, not the message rate, decides how soon a paused reader's buffers fill. */
  itemBytes: number
  warmupMs: number
  durationMs: number
}

/**
 * slow readers, the paused ones, in a process of their own (reading what piled up for them must not delay the
 * readers' clocks): `paused` readers of the same group and one probe, paused on `continue` (when the readers'
 * window opens) for at most `durationMs`. The server's limits say when a paused queue is past the soft one.
 */
export interface PausedJob extends JobBase {
  kind: 'paused'
  subscribe: SubscribeTarget
  paused: number
  /** Subscriber indexes start here (after the readers'), for source addresses and subscription ids. */
  firstIndex: number
  lanes: number
  conflateBytes: number
  maxQueueBytes: number
  durationMs: number
}

export type Job = FlowJob | IdleJob | StormJob | SubscribersJob | WriterJob | SlowJob | PausedJob

export interface Correctness {
  lost: number
  duplicated: number
  outOfOrder: number
  misrouted: number
  /** Subscribers that got more than the one sync they asked for (a reset), or none. */
  badSyncs: number
  writeErrors: number
  /** Saturation lanes that waited longer than the stall limit for a delivery. */
  stalls: number
}

export interface CpuUse {
  /** CPU time in ms over the measured window. */
  ms: number
  /** Percent of one core over the measured window. */
  pct: number
}

export interface FlowResult {
  subscribers: number
  connectMs: number
  writesInWindow: number
  writesPerSec: number
  delivered: number
  deliveredPerSec: number
  latency: LatencySummary
  writerLag: LatencySummary
  correctness: Correctness
  loadgenCpu: CpuUse
  windowMs: number
}

/** What one paused reader saw. */
export interface PausedReader {
  /** Seconds after the pause it read again: the probe between the limits, the others once closed (or at the end). */
  resumedAfterS: number | null
  /** Frames read after the pause, and how many of them carried `"conflated"`. */
  frames: number
  conflatedFrames: number
  /** The close frame's code, if one arrived; null when the connection ended without one, or is still open. */
  closeCode: number | null
  ended: boolean
  /** Its last record of every lane is the last one written (the state it would have reached). */
  caughtUp: boolean
}

export interface SlowReadersResult extends FlowResult {
  /** Readers that kept reading; the flow figures above are theirs. */
  readers: number
  /** Records written per lane (the probe must end with the last of each). */
  perKey: number[]
}

export interface PausedResult {
  paused: PausedReader[]
  /** One more paused reader, resumed between the soft and the hard limit (none when paused = 0). */
  probe: PausedReader | null
  /** Seconds after the pause at which the server counted each slow-consumer close (its metric, 50 ms polls). */
  closesAfterS: number[]
  /** The most the paused readers' queues held at once (the server's gauge, its floor over 150 ms), bytes. */
  peakQueuedBytes: number
}

/** A slow-reader case as recorded: the readers' figures and the paused readers'. */
export type SlowResult = SlowReadersResult & PausedResult

export interface IdleResult {
  connected: number
  failed: number
  connectMs: number
}

export interface StormResult {
  clients: number
  resynced: number
  failed: number
  retries: number
  /** From the start of the reconnect wave to the last client's sync, ms. */
  recoveryMs: number
  resyncP50Ms: number
  resyncP99Ms: number
  badSnapshots: number
  /** How long issuing the reconnect wave took the load generator, ms. */
  issueMs: number
  loadgenCpu: CpuUse
}

export interface SubscribersResult {
  subscribers: number
  delivered: number
  latency: LatencySummary
  correctness: Correctness
  loadgenCpu: CpuUse
}

export interface WriterResult {
  written: number
  perKey: number[]
  writesInWindow: number
  writesPerSec: number
  latency: LatencySummary
  writerLag: LatencySummary
  writeErrors: number
  loadgenCpu: CpuUse
}

/** Messages between the orchestrator and a load generator. */
export type ToLoadgen = { type: 'run'; job: Job } | { type: 'continue' } | { type: 'verify'; perKey: number[] }
export type FromLoadgen =
  | { type: 'mark'; name: 'window-start' | 'window-end' | 'ready' | 'idle' | 'storm-start' | 'resynced' | 'paused' | 'paused-closed' }
  | { type: 'result'; result: FlowResult | IdleResult | StormResult | SubscribersResult | WriterResult | SlowReadersResult | PausedResult }
  | { type: 'error'; message: string }
