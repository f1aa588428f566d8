import { create, fromJson, type JsonValue, toBinary, toJsonString } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { encodeEnvelope } from '@connectrpc/connect/protocol'
import { resumeToken } from '../../core/resume-token.ts'
import { defineWireFormat } from '../../core/wire.ts'
import type { Address, LogRecord, Snapshot } from '../../model/records.ts'
import { type SubscribeResponse, SubscribeResponseSchema } from '../../gen/streamgate/v1/stream_pb.ts'

/** Proto3 has no absent string: an empty `id` means "the whole group", as the contract says. */
export const addressOf = ({ streamName, groupId, id }: { streamName: string; groupId: string; id: string }): Address =>
  id === '' ? { streamName, groupId } : { streamName, groupId, id }

/** A custom event's payload as `google.protobuf.Value`; unset when the event carried no data. */
export const toValue = (data: unknown) => (data === undefined ? undefined : fromJson(ValueSchema, data as JsonValue))

/**
 * A change or custom event as a SubscribeResponse. A Subscribe call follows one group, so the message
 * depends on the record alone (its resume token is the record's position).
 */
export function recordMessage(record: LogRecord, conflated: number): SubscribeResponse {
  const event =
    record.kind === 'event'
      ? { case: 'custom' as const, value: { type: record.event.type, data: toValue(record.event.data) } }
      : { case: record.kind, value: { item: record.item } }
  return create(SubscribeResponseSchema, {
    streamName: record.streamName,
    groupId: record.groupId,
    id: record.id ?? '',
    timestamp: BigInt(record.timestamp),
    resumeToken: resumeToken(record.epoch, record.seq),
    sequence: BigInt(record.seq),
    conflated: conflated > 1 ? conflated : 0,
    event,
  })
}

/** The subscription's state; its resume token is the snapshot's position in the group's log. */
export function syncMessage(address: Address, snapshot: Snapshot, reset: boolean): SubscribeResponse {
  return create(SubscribeResponseSchema, {
    streamName: address.streamName,
    groupId: address.groupId,
    id: address.id ?? '',
    timestamp: BigInt(snapshot.timestamp),
    resumeToken: resumeToken(snapshot.epoch, snapshot.seq),
    sequence: BigInt(snapshot.seq),
    event: {
      case: 'sync',
      value: { items: snapshot.items, reset, versions: Object.fromEntries(snapshot.items.map((item, n) => [item.id, BigInt(snapshot.versions[n]!)])) },
    },
  })
}

/**
 * A message in the envelope all three protocols frame it with (flags, 4-byte length, message): the bytes a
 * Subscribe stream writes for it, whichever protocol carries the call.
 */
const envelope = (message: Uint8Array) => {
  const bytes = encodeEnvelope(0, message)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
const utf8 = new TextEncoder()

/** SubscribeResponse in the protobuf binary codec, enveloped. */
export const protoEnvelopes = defineWireFormat({
  name: 'connect-proto',
  record: (record, conflated) => envelope(toBinary(SubscribeResponseSchema, recordMessage(record, conflated))),
  sync: (address, snapshot, reset) => envelope(toBinary(SubscribeResponseSchema, syncMessage(address, snapshot, reset))),
})

/** SubscribeResponse in the JSON codec, enveloped. */
export const jsonEnvelopes = defineWireFormat({
  name: 'connect-json',
  record: (record, conflated) => envelope(utf8.encode(toJsonString(SubscribeResponseSchema, recordMessage(record, conflated)))),
  sync: (address, snapshot, reset) => envelope(utf8.encode(toJsonString(SubscribeResponseSchema, syncMessage(address, snapshot, reset)))),
})
