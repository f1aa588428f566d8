import type { GatewayError } from '../core/errors.ts'
import type { Address, LogRecord, Snapshot } from '../core/types.ts'

/**
 * Motia's server frames (spec section 4), the wire format of the WebSocket and SSE transports:
 * `{timestamp, streamName, groupId, id?, event}`. Group-level frames carry no `id` key.
 */
const frames = new WeakMap<LogRecord, Buffer>()

/** Encoded once per record, whatever the number of subscribers: the same bytes go to every socket. */
export function recordFrame(record: LogRecord): Buffer {
  let frame = frames.get(record)
  if (!frame) {
    const event = record.kind === 'event' ? { type: 'event', event: record.event } : { type: record.kind, data: record.item }
    frame = Buffer.from(
      JSON.stringify(
        record.id === undefined
          ? { timestamp: record.timestamp, streamName: record.streamName, groupId: record.groupId, event }
          : { timestamp: record.timestamp, streamName: record.streamName, groupId: record.groupId, id: record.id, event },
      ),
    )
    frames.set(record, frame)
  }
  return frame
}

const envelope = (address: Address, timestamp: number, event: unknown) =>
  JSON.stringify(
    address.id === undefined
      ? { timestamp, streamName: address.streamName, groupId: address.groupId, event }
      : { timestamp, streamName: address.streamName, groupId: address.groupId, id: address.id, event },
  )

/**
 * A group sync carries the array of items; an item sync the item, or null when it does not exist.
 * `reset: true` (ignored by Motia's clients) says a resume token could not be honoured.
 */
export const syncFrame = (address: Address, snapshot: Snapshot, reset = false) =>
  envelope(address, snapshot.timestamp, {
    type: 'sync',
    data: address.id === undefined ? snapshot.items : (snapshot.items[0] ?? null),
    ...(reset ? { reset: true } : {}),
  })

/** Motia 0.13+ reports a refused join as a custom `error` event on the subscription's routing key. */
export const errorFrame = (address: Address, error: GatewayError) =>
  envelope(address, Date.now(), {
    type: 'event',
    event: { type: 'error', data: { code: error.code === 'PERMISSION_DENIED' ? 'STREAM_ACCESS_DENIED' : error.code, message: error.message } },
  })
