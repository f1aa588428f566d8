import * as grpc from '@grpc/grpc-js'
import protoLoader from '@grpc/proto-loader'
import { fileURLToPath } from 'node:url'

/** The contract's proto, loaded at run time (the raw gRPC peer and the gRPC writer use @grpc/grpc-js). */
export const PROTO_PATH = fileURLToPath(new URL('../../proto/streamgate/v1/stream.proto', import.meta.url))

export function loadStreamService() {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: false, defaults: true, oneofs: true, longs: Number })
  return definition['streamgate.v1.StreamService'] as grpc.ServiceDefinition
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type ProtoValue =
  | { nullValue: 0 }
  | { boolValue: boolean }
  | { numberValue: number }
  | { stringValue: string }
  | { listValue: { values: ProtoValue[] } }
  | { structValue: ProtoStruct }
export type ProtoStruct = { fields: Record<string, ProtoValue> }

/** A JSON object as protobufjs's google.protobuf.Struct object form. */
export function toStruct(object: { [key: string]: Json }): ProtoStruct {
  const fields: Record<string, ProtoValue> = {}
  for (const [key, value] of Object.entries(object)) fields[key] = toValue(value)
  return { fields }
}

function toValue(value: Json): ProtoValue {
  if (value === null) return { nullValue: 0 }
  if (typeof value === 'boolean') return { boolValue: value }
  if (typeof value === 'number') return { numberValue: value }
  if (typeof value === 'string') return { stringValue: value }
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } }
  return { structValue: toStruct(value) }
}
