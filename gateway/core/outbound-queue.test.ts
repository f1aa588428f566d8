import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Item, LogRecord } from '../model/records.ts'
import { Delivery } from './delivery.ts'
import { type Entry, OutboundQueue } from './outbound-queue.ts'
import { defineWireFormat } from './wire.ts'

type Frame = { kind: string; id?: string; item?: Item; data?: unknown; seq: number; timestamp: number; conflated: number }

const format = defineWireFormat({
  name: 'test',
  record: (record, conflated) =>
    Buffer.from(JSON.stringify({ kind: record.kind, id: record.id, seq: record.seq, timestamp: record.timestamp, conflated, ...(record.kind === 'event' ? { data: record.event.data } : { item: record.item }) })),
  sync: () => Buffer.alloc(0),
})

/** What the session writes for an entry (session.ts `frameOf`). */
function frameOf(entry: Entry): Frame | undefined {
  if (entry.type !== 'record' || entry.dropped) return undefined
  if (!entry.merged) return JSON.parse(entry.delivery.bytes(format).toString())
  const { kind, latest, count } = entry.merged
  return JSON.parse(format.record({ ...(entry.delivery.record as typeof latest), kind, item: latest.item }, count).toString())
}

/** Motia's group reducer (spec 6.4), the strictest client: an update of an item it lacks is ignored. */
class MotiaGroup {
  items = new Map<string, Item>()
  lastTimestamp = 0
  stamps = new Map<string, number>()
  events: unknown[] = []
  apply(frame: Frame) {
    const id = frame.item?.id ?? ''
    if (frame.kind === 'create') {
      if (!this.items.has(id)) this.items.set(id, frame.item!)
    } else if (frame.kind === 'update') {
      if ((this.stamps.get(id) ?? -1) >= frame.timestamp) return
      this.lastTimestamp = frame.timestamp
      this.stamps.set(id, frame.timestamp)
      if (this.items.has(id)) this.items.set(id, frame.item!)
    } else if (frame.kind === 'delete') {
      this.lastTimestamp = frame.timestamp
      this.stamps.set(id, frame.timestamp)
      this.items.delete(id)
    } else this.events.push(frame.data)
  }
  get state() {
    return Object.fromEntries([...this.items].sort(([a], [b]) => (a < b ? -1 : 1)))
  }
}

const operation = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), id: fc.constantFrom('a', 'b', 'c'), v: fc.nat(99) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), id: fc.constantFrom('a', 'b', 'c') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('event' as const), v: fc.nat(99) }) },
)

/** The log a store would write for the operations, and the state it ends in. */
function log(operations: Array<{ op: 'set' | 'delete' | 'event'; id?: string; v?: number }>) {
  const state = new Map<string, Item>()
  const records: LogRecord[] = []
  const head = (seq: number) => ({ streamName: 's', groupId: 'g', seq, timestamp: 1000 + seq * 2, epoch: 'e' })
  for (const { op, id, v } of operations) {
    const seq = records.length + 1
    if (op === 'event') records.push({ ...head(seq), kind: 'event', event: { type: 't', data: v } })
    else if (op === 'set') {
      const item = { id: id!, v: v! }
      records.push({ ...head(seq), kind: state.has(id!) ? 'update' : 'create', id: id!, item })
      state.set(id!, item)
    } else if (state.has(id!)) {
      records.push({ ...head(seq), kind: 'delete', id: id!, item: state.get(id!)! })
      state.delete(id!)
    }
  }
  return { records, state: Object.fromEntries([...state].sort(([a], [b]) => (a < b ? -1 : 1))) }
}

describe('OutboundQueue conflation', () => {
  it('leaves a client in the stored state, every custom event once in order, timestamps increasing, resumable after any frame', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), fc.array(fc.boolean(), { maxLength: 60 }), fc.nat(400), (operations, flushes, conflateBytes) => {
        const { records, state } = log(operations)
        const queue = new OutboundQueue(format, { conflateBytes, maxQueueBytes: Number.MAX_SAFE_INTEGER })
        const frames: Frame[] = []
        const flush = () => {
          for (const entry of queue.take()) {
            const frame = frameOf(entry)
            if (frame) frames.push(frame)
          }
        }
        records.forEach((record, i) => {
          expect(queue.pushRecord(new Delivery(record))).toBe(true)
          if (flushes[i]) flush()
        })
        flush()

        const client = new MotiaGroup()
        for (const frame of frames) client.apply(frame)
        expect(client.state).toEqual(state)
        const events = records.flatMap((r) => (r.kind === 'event' ? [r.event.data] : []))
        expect(client.events).toEqual(events)
        expect(frames.length).toBeLessThanOrEqual(records.length)
        for (let i = 1; i < frames.length; i++) {
          expect(frames[i]!.timestamp).toBeGreaterThan(frames[i - 1]!.timestamp)
          expect(frames[i]!.seq).toBeGreaterThan(frames[i - 1]!.seq)
        }
        // A client cut after any frame resumes from that frame's position with the records after it.
        for (let cut = 0; cut <= frames.length; cut++) {
          const resumed = new MotiaGroup()
          for (const frame of frames.slice(0, cut)) resumed.apply(frame)
          const position = cut === 0 ? 0 : frames[cut - 1]!.seq
          for (const record of records.filter((r) => r.seq > position)) resumed.apply(frameOf({ type: 'record', delivery: new Delivery(record), bytes: 0, dropped: false })!)
          expect(resumed.state).toEqual(state)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('merges nothing below the soft limit', () => {
    const { records } = log(Array.from({ length: 20 }, (_, v) => ({ op: 'set' as const, id: 'a', v })))
    const queue = new OutboundQueue(format, { conflateBytes: Number.MAX_SAFE_INTEGER, maxQueueBytes: Number.MAX_SAFE_INTEGER })
    for (const record of records) queue.pushRecord(new Delivery(record))
    expect(queue.take().filter((e) => e.type === 'record' && !e.dropped && !e.merged)).toHaveLength(20)
  })

  it('reports the hard limit, and keeps custom events past the soft limit', () => {
    const { records } = log(Array.from({ length: 50 }, (_, v) => ({ op: 'event' as const, v })))
    const queue = new OutboundQueue(format, { conflateBytes: 0, maxQueueBytes: 1000 })
    const accepted = records.map((record) => queue.pushRecord(new Delivery(record)))
    expect(accepted.indexOf(false)).toBeGreaterThan(0)
    expect(queue.take().length).toBe(50)
  })
})
