import { groupKey } from '../model/group-key.ts'
import type { LogRecord } from '../model/records.ts'
import type { Delivery } from './delivery.ts'
import type { Limits } from './limits.ts'
import type { WireFormat } from './wire.ts'

type ChangeKind = 'create' | 'update' | 'delete'
type ChangeRecord = Extract<LogRecord, { kind: ChangeKind }>

/** A change or custom event waiting to be written; a change may stand for several merged changes. */
export interface RecordEntry {
  type: 'record'
  /** The record whose place in the log the entry keeps: the oldest of the changes it stands for. */
  delivery: Delivery
  bytes: number
  /** Set once changes were merged into this entry: the kind they add up to and the newest of them. */
  merged?: { kind: ChangeKind; latest: ChangeRecord; count: number }
  /** The changes cancelled out (a create, then a delete): nothing is written. */
  dropped: boolean
}

export interface SyncEntry {
  type: 'sync'
  frame: Buffer
  bytes: number
  groupKey: string
  epoch: string
  seq: number
}

export type Entry = RecordEntry | SyncEntry

/** What a client holds after the first change and after the last, whatever happened in between. */
function mergedKind(first: ChangeKind, last: ChangeKind): ChangeKind | null {
  const existedBefore = first !== 'create'
  const existsAfter = last !== 'delete'
  if (existedBefore) return existsAfter ? 'update' : 'delete'
  return existsAfter ? 'create' : null
}

const itemKey = (record: ChangeRecord) => `${groupKey(record.streamName, record.groupId)}\u0000${record.id}`

/**
 * One connection's frames not yet handed to its socket, measured in bytes of its wire format. Past
 * `conflateBytes`, a change of an item that already has a change waiting is merged into that entry: the entry
 * keeps its place (and so its sequence and timestamp, which keep increasing per group) and takes the newest
 * data, so the client ends in the state it would have reached, with fewer frames. Custom events are never
 * merged or dropped, and nothing is merged across a sync of the group. Past `maxQueueBytes` the connection is
 * to be closed.
 */
export class OutboundQueue {
  private entries: Entry[] = []
  private queued = 0
  /** While conflating: the entry each item's next change merges into. */
  private pending: Map<string, RecordEntry> | undefined

  constructor(
    private readonly format: WireFormat,
    private readonly limits: Pick<Limits, 'conflateBytes' | 'maxQueueBytes'>,
  ) {}

  get bytes() {
    return this.queued
  }

  get empty() {
    return this.entries.length === 0
  }

  /** False once the queue is past the hard limit. */
  pushRecord(delivery: Delivery): boolean {
    const record = delivery.record
    if (this.pending && record.kind !== 'event') {
      const earlier = this.pending.get(itemKey(record))
      if (earlier) {
        this.merge(earlier, delivery)
        return this.queued <= this.limits.maxQueueBytes
      }
    }
    const entry: RecordEntry = { type: 'record', delivery, bytes: delivery.bytes(this.format).byteLength, dropped: false }
    this.entries.push(entry)
    this.queued += entry.bytes
    if (this.pending && record.kind !== 'event') this.pending.set(itemKey(record), entry)
    else if (!this.pending && this.queued > this.limits.conflateBytes) this.conflate()
    return this.queued <= this.limits.maxQueueBytes
  }

  /** False once the queue is past the hard limit. */
  pushSync(frame: Buffer, key: string, epoch: string, seq: number): boolean {
    this.entries.push({ type: 'sync', frame, bytes: frame.byteLength, groupKey: key, epoch, seq })
    this.queued += frame.byteLength
    if (this.pending) this.forgetGroup(key)
    else if (this.queued > this.limits.conflateBytes) this.conflate()
    return this.queued <= this.limits.maxQueueBytes
  }

  /** Everything queued, in order (dropped entries included, to be skipped); the queue is empty after. */
  take(): Entry[] {
    const entries = this.entries
    this.entries = []
    this.queued = 0
    this.pending = undefined
    return entries
  }

  /** Starts merging: the changes already waiting are merged first, each into the oldest of its item. */
  private conflate() {
    this.pending = new Map()
    for (const entry of this.entries) {
      if (entry.type === 'sync') {
        this.forgetGroup(entry.groupKey)
        continue
      }
      const record = entry.delivery.record
      if (entry.dropped || record.kind === 'event') continue
      const key = itemKey(record)
      const earlier = this.pending.get(key)
      if (!earlier) {
        this.pending.set(key, entry)
        continue
      }
      entry.dropped = true
      this.queued -= entry.bytes
      this.merge(earlier, entry.delivery)
    }
  }

  /** Its encoded size stands for the merged frame's, which is only encoded when written. */
  private merge(entry: RecordEntry, delivery: Delivery) {
    const record = delivery.record as ChangeRecord
    const first = entry.delivery.record as ChangeRecord
    const kind = mergedKind(first.kind, record.kind)
    const count = (entry.merged?.count ?? 1) + 1
    this.queued -= entry.bytes
    if (kind === null) {
      entry.dropped = true
      this.pending!.delete(itemKey(record))
      return
    }
    entry.merged = { kind, latest: record, count }
    entry.bytes = delivery.bytes(this.format).byteLength
    this.queued += entry.bytes
  }

  private forgetGroup(key: string) {
    const prefix = `${key}\u0000`
    for (const item of this.pending!.keys()) if (item.startsWith(prefix)) this.pending!.delete(item)
  }
}
