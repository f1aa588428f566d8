import type { GatewayError } from '../model/errors.ts'
import { resumeToken } from '../core/resume-token.ts'
import type { Address, LogRecord, Snapshot } from '../model/records.ts'

/**
 * Motia's server frames (spec section 4), the payload of the WebSocket and SSE transports:
 * `{timestamp, streamName, groupId, id?, event}`; group-level frames carry no `id` key. Frames of the log
 * (syncs and changes) add `sequence`, the position in the group's log that streamgate's clients order by,
 * and `resumeToken`, which a client sends back to resume; a frame that stands for merged changes adds
 * `conflated`, how many; a sync adds `versions`, each item's version by id (a change's version is its
 * `sequence`), so a client can write conditionally from what it shows. Motia's clients ignore all four, as
 * they ignore the `type` key of Motia's own Rust engine.
 */
interface Position {
  seq: number
  epoch: string
}

const envelope = (address: Address, timestamp: number, event: unknown, position?: Position, conflated = 1, versions?: object) => {
  const head = { timestamp, streamName: address.streamName, groupId: address.groupId }
  const frame: Record<string, unknown> = address.id === undefined ? { ...head, event } : { ...head, id: address.id, event }
  if (position) {
    frame.sequence = position.seq
    frame.resumeToken = resumeToken(position.epoch, position.seq)
  }
  // Last in a change frame: bench/lib/tracker.ts reads it from the frame's tail.
  if (conflated > 1) frame.conflated = conflated
  if (versions) frame.versions = versions
  return JSON.stringify(frame)
}

export function recordFrame(record: LogRecord, conflated: number): string {
  const event = record.kind === 'event' ? { type: 'event', event: record.event } : { type: record.kind, data: record.item }
  return envelope(record, record.timestamp, event, record, conflated)
}

/** Each item's version by id; `Object.fromEntries` defines keys, so an id such as `__proto__` stays a key. */
const versionsById = (snapshot: Snapshot) => Object.fromEntries(snapshot.items.map((item, n) => [item.id, snapshot.versions[n]!]))

/**
 * A group sync carries the array of items; an item sync the item, or null when it does not exist.
 * `reset: true` says a resume token could not be honoured: local state is to be replaced.
 */
export const syncFrame = (address: Address, snapshot: Snapshot, reset: boolean) =>
  envelope(
    address,
    snapshot.timestamp,
    { type: 'sync', data: address.id === undefined ? snapshot.items : (snapshot.items[0] ?? null), ...(reset ? { reset: true } : {}) },
    snapshot,
    1,
    versionsById(snapshot),
  )

/** Motia 0.13+ reports a refused join as a custom `error` event on the subscription's routing key. */
export const errorFrame = (address: Address, error: GatewayError) =>
  envelope(address, Date.now(), {
    type: 'event',
    event: { type: 'error', data: { code: error.code === 'PERMISSION_DENIED' ? 'STREAM_ACCESS_DENIED' : error.code, message: error.message } },
  })
