import http2 from 'node:http2'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { type SubscribeRequest, SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema } from '../../gateway/gen/streamgate/v1/stream_pb.ts'
import { create, type MessageInitShape } from '@bufbuild/protobuf'
import { until } from './gateway.ts'
import { H2_ERROR, RawH2, type StreamState } from './raw-h2.ts'

/** A SubscribeRequest as one gRPC length-prefixed message. */
export function grpcSubscribeMessage(request: MessageInitShape<typeof SubscribeRequestSchema>): Buffer {
  const body = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, request) as SubscribeRequest)
  const envelope = Buffer.alloc(5 + body.length)
  envelope.writeUInt32BE(body.length, 1)
  envelope.set(body, 5)
  return envelope
}

/** The request headers of a gRPC Subscribe call. */
export const GRPC_SUBSCRIBE_HEADERS: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':authority', 'localhost'],
  [':path', '/streamgate.v1.StreamService/Subscribe'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]

/**
 * A gRPC Subscribe on a bare Node HTTP/2 session, for what client libraries hide: it can stop reading
 * (real clients buffer whatever arrives, so the server never feels a slow reader), and it reports the
 * raw end of the stream (trailers, or RST_STREAM and its code).
 */
export function rawGrpcSubscribe(url: string, request: MessageInitShape<typeof SubscribeRequestSchema>) {
  const session = http2.connect(url)
  session.on('error', () => {})
  const envelope = grpcSubscribeMessage(request)
  const stream = session.request({ ':method': 'POST', ':path': '/streamgate.v1.StreamService/Subscribe', 'content-type': 'application/grpc', te: 'trailers' })
  stream.end(envelope)
  const messages: SubscribeResponse[] = []
  let buffer = Buffer.alloc(0)
  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
      const length = buffer.readUInt32BE(1)
      messages.push(fromBinary(SubscribeResponseSchema, buffer.subarray(5, 5 + length)))
      buffer = buffer.subarray(5 + length)
    }
  }
  const ended = new Promise<{ grpcStatus?: string; grpcMessage?: string; rstCode: number }>((resolve) => {
    let trailers: http2.IncomingHttpHeaders = {}
    stream.on('trailers', (t) => (trailers = t))
    stream.on('error', () => {})
    stream.on('close', () =>
      resolve({ grpcStatus: trailers['grpc-status'] as string | undefined, grpcMessage: trailers['grpc-message'] as string | undefined, rstCode: stream.rstCode ?? 0 }),
    )
  })
  return {
    messages,
    ended,
    /** Reads until `n` messages arrived, then stops reading (flow control does the rest). */
    readUntil(n: number) {
      const listener = (chunk: Buffer) => {
        onData(chunk)
        if (messages.length >= n) {
          stream.off('data', listener)
          stream.pause()
        }
      }
      stream.on('data', listener)
    },
    readAll() {
      stream.on('data', onData)
      stream.resume()
    },
    close: () => session.destroy(),
  }
}

/**
 * Opens `count` gRPC Subscribe streams at once on one bare HTTP/2 session, ignoring the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS as a hostile client would, and reports how many were served (sent a
 * message) and whether each of the others was refused: reset with REFUSED_STREAM, or the session ended.
 */
export async function subscribeMany(port: number, count: number) {
  const h2 = await RawH2.connect(port)
  const ids = Array.from({ length: count }, (_, i) => h2.request(GRPC_SUBSCRIBE_HEADERS, grpcSubscribeMessage({ streamName: 'chat', groupId: `many-${i}` })))
  const state = (id: number) => h2.streams.get(id)!
  // Refused: reset by HTTP/2 (past SETTINGS_MAX_CONCURRENT_STREAMS) or answered with trailers only (an error status).
  const refusedStream = (s: StreamState) => s.resetCode === H2_ERROR.REFUSED_STREAM || (s.ended && s.dataBytes === 0)
  await until(() => h2.goaway || h2.closed || ids.every((id) => state(id).dataBytes > 0 || state(id).resetCode !== undefined || state(id).ended), 'every stream served or refused')
  const served = ids.filter((id) => state(id).dataBytes > 0).length
  const refused = h2.goaway || h2.closed ? count - served : ids.filter((id) => refusedStream(state(id))).length
  return { served, refused, close: () => h2.destroy() }
}
