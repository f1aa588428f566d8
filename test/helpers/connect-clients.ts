import { fromJson, type JsonObject, type JsonValue, toJson } from '@bufbuild/protobuf'
import { type Value, ValueSchema } from '@bufbuild/protobuf/wkt'
import { type Client, ConnectError, createClient, type Transport } from '@connectrpc/connect'
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node'
import * as web from '@connectrpc/connect-web'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { type SubscribeResponse, StreamService } from '../../gateway/gen/streamgate/v1/stream_pb.ts'
import { until } from './gateway.ts'

export const PROTO_DIR = new URL('../../proto', import.meta.url).pathname

/** Every connect-es way to reach the gateway: the Connect protocol on both HTTP versions, gRPC, gRPC-Web. */
export const CONNECT_ES_TRANSPORTS = {
  'Connect, HTTP/1.1 (connect-node)': (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: '1.1' }),
  'Connect, HTTP/2 (connect-node)': (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: '2' }),
  'Connect JSON, HTTP/2 (connect-node)': (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: false }),
  'gRPC (connect-node)': (baseUrl: string) => createGrpcTransport({ baseUrl }),
  'gRPC-Web, HTTP/1.1 (connect-node)': (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }),
  'Connect over fetch (connect-web)': (baseUrl: string) => web.createConnectTransport({ baseUrl }),
  'gRPC-Web over fetch (connect-web)': (baseUrl: string) => web.createGrpcWebTransport({ baseUrl }),
} satisfies Record<string, (baseUrl: string) => Transport>

export type StreamClient = Client<typeof StreamService>
export const streamClient = (transport: Transport): StreamClient => createClient(StreamService, transport)

/** With a bearer token on every call. */
export const withToken = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

/** Reads a Subscribe stream in the background, recording every event and how the stream ended. */
export function follow(events: AsyncIterable<SubscribeResponse>) {
  const received: SubscribeResponse[] = []
  let error: ConnectError | undefined
  let ended = false
  const done = (async () => {
    try {
      for await (const event of events) received.push(event)
    } catch (e) {
      error = ConnectError.from(e)
    } finally {
      ended = true
    }
  })()
  return {
    received,
    done,
    get error() {
      return error
    },
    get ended() {
      return ended
    },
    /** Resolves once `n` events arrived. */
    count: (n: number, what = `${n} events`) => until(() => received.length >= n, what),
  }
}

/** An event as the test compares it across transports: kind, item id, and its payload as plain JSON. */
export function summary(event: SubscribeResponse) {
  const { case: kind, value } = event.event
  const payload =
    kind === 'sync' ? { items: value.items, reset: value.reset } : kind === 'custom' ? { type: value.type, data: value.data && valueJson(value.data) } : { item: value?.item }
  return { kind, id: event.id, sequence: Number(event.sequence), ...payload }
}

export const valueJson = (value: Value) => toJson(ValueSchema, value)
export const jsonValue = (json: JsonValue) => fromJson(ValueSchema, json)

// ---- @grpc/grpc-js with the project's .proto through proto-loader ----

/** Struct and Value as proto-loader represents them, converted from and to plain JSON. */
type GrpcValue = { nullValue?: string; numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: GrpcStruct; listValue?: { values: GrpcValue[] }; kind?: string }
type GrpcStruct = { fields: Record<string, GrpcValue> }

export function toGrpcStruct(json: JsonObject): GrpcStruct {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, toGrpcValue(v)])) }
}
export function toGrpcValue(json: JsonValue): GrpcValue {
  if (json === null) return { nullValue: 'NULL_VALUE' }
  if (typeof json === 'number') return { numberValue: json }
  if (typeof json === 'string') return { stringValue: json }
  if (typeof json === 'boolean') return { boolValue: json }
  if (Array.isArray(json)) return { listValue: { values: json.map(toGrpcValue) } }
  return { structValue: toGrpcStruct(json) }
}
export function fromGrpcStruct(struct: GrpcStruct | null | undefined): JsonObject | undefined {
  if (!struct) return undefined
  return Object.fromEntries(Object.entries(struct.fields ?? {}).map(([k, v]) => [k, fromGrpcValue(v)]))
}
export function fromGrpcValue(value: GrpcValue | null | undefined): JsonValue {
  if (!value) return null
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue!
    case 'stringValue':
      return value.stringValue!
    case 'boolValue':
      return value.boolValue!
    case 'structValue':
      return fromGrpcStruct(value.structValue)!
    case 'listValue':
      return (value.listValue?.values ?? []).map(fromGrpcValue)
    default:
      return null
  }
}

export type GrpcJsClient = grpc.Client & Record<string, (...args: any[]) => any>

/** A @grpc/grpc-js client for streamgate.v1.StreamService, built from proto/ by proto-loader. */
export function grpcJsClient(target: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): GrpcJsClient {
  const definition = protoLoader.loadSync('streamgate/v1/stream.proto', { includeDirs: [PROTO_DIR], defaults: true, oneofs: true, longs: String })
  const pkg = grpc.loadPackageDefinition(definition) as any
  return new pkg.streamgate.v1.StreamService(target, credentials, options)
}

/** Promisifies one unary call of a grpc-js client. */
export function grpcUnary<T = any>(client: GrpcJsClient, method: string, request: object, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, metadata, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response))))
}

export const hostPort = (url: string) => new URL(url).host

/** The gateway's own metric, from GET /metrics. */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `))
  return line ? Number(line.split(' ').at(-1)) : 0
}
