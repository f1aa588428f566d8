import type { LogRecord } from '../model/records.ts'
import type { HistoryLimit } from './store.ts'

/** What a record weighs in a history: its payload as JSON (UTF-16 units; close to bytes for JSON text). */
export const recordWeight = (record: LogRecord) => JSON.stringify(record.kind === 'event' ? record.event : record.item).length

/**
 * A group's newest log records, oldest first, within its limit of records and of bytes: the oldest leave
 * first, so memory per group stays bounded however large its items are. A ring of slots, so trimming
 * costs nothing per write.
 */
export class History {
  private slots: Array<{ record: LogRecord; weight: number } | undefined> = []
  private head = 0
  private length = 0
  private weight = 0

  constructor(private readonly limit: HistoryLimit) {}

  push(record: LogRecord) {
    const weight = recordWeight(record)
    if (this.length === this.slots.length && this.length < this.limit.records) this.grow()
    if (this.length === this.limit.records) this.shift()
    this.slots[(this.head + this.length) % this.slots.length] = { record, weight }
    this.length += 1
    this.weight += weight
    while (this.weight > this.limit.bytes && this.length > 0) this.shift()
  }

  /** The records after `seq`, or null when the history no longer holds all of them. */
  after(seq: number): LogRecord[] | null {
    if (this.length === 0) return null
    const first = this.slots[this.head]!.record.seq
    if (seq + 1 < first) return null
    const out: LogRecord[] = []
    for (let i = seq + 1 - first; i < this.length; i++) out.push(this.slots[(this.head + i) % this.slots.length]!.record)
    return out
  }

  private shift() {
    const slot = this.slots[this.head]!
    this.slots[this.head] = undefined
    this.head = (this.head + 1) % this.slots.length
    this.length -= 1
    this.weight -= slot.weight
  }

  private grow() {
    const size = Math.min(this.limit.records, Math.max(8, this.slots.length * 2))
    const slots = new Array(size)
    for (let i = 0; i < this.length; i++) slots[i] = this.slots[(this.head + i) % this.slots.length]
    this.slots = slots
    this.head = 0
  }
}
