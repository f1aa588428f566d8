import { create, fromJson, type JsonValue, toBinary, toJsonString } from '@bufbuild/protobuf'
import { BinaryReader } from '@bufbuild/protobuf/wire'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { resumeToken } from '../../core/resume-token.ts'
import { defineWireFormat } from '../../core/wire.ts'
import type { Address, LogRecord, Snapshot } from '../../model/records.ts'
import { type SubscribeResponse, SubscribeResponseSchema } from '../../gen/streamgate/v1/stream_pb.ts'

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
    event: { case: 'sync', value: { items: snapshot.items, reset } },
  })
}

const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** SubscribeResponse in the protobuf binary codec. */
export const protoFormat = defineWireFormat({
  name: 'connect-proto',
  record: (record, conflated) => buffer(toBinary(SubscribeResponseSchema, recordMessage(record, conflated))),
  sync: (address, snapshot, reset) => buffer(toBinary(SubscribeResponseSchema, syncMessage(address, snapshot, reset))),
})

/** SubscribeResponse in the JSON codec. */
export const jsonFormat = defineWireFormat({
  name: 'connect-json',
  record: (record, conflated) => Buffer.from(toJsonString(SubscribeResponseSchema, recordMessage(record, conflated))),
  sync: (address, snapshot, reset) => Buffer.from(toJsonString(SubscribeResponseSchema, syncMessage(address, snapshot, reset))),
})

const preEncoded = new WeakMap<Uint8Array, SubscribeResponse>()

/**
 * A SubscribeResponse whose fields are all carried as already-encoded (unknown) fields: protobuf-es writes
 * them back byte for byte, so the binary codec copies the record's encoding instead of walking its Structs
 * again for every subscriber. Only for the protobuf codec: JSON does not write unknown fields.
 */
export function preEncodedMessage(bytes: Uint8Array): SubscribeResponse {
  let message = preEncoded.get(bytes)
  if (!message) {
    message = create(SubscribeResponseSchema)
    const reader = new BinaryReader(bytes)
    const fields = []
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag()
      fields.push({ no, wireType, data: reader.skip(wireType, no) })
    }
    message.$unknown = fields
    preEncoded.set(bytes, message)
  }
  return message
}
