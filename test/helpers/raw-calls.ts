import http from 'node:http'
import http2 from 'node:http2'
import { create, fromBinary, fromJsonString, type MessageInitShape, toBinary } from '@bufbuild/protobuf'
import { SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema } from '../../gateway/gen/streamgate/v1/stream_pb.ts'

/**
 * Subscribe calls with nothing between the test and the wire: the exact request bytes (malformed ones too),
 * and the exact answer, so the protocols' framing (trailers, gRPC-Web's trailer envelope, Connect's end of
 * stream) is checked as it is sent, not as a client library reports it.
 */

export const SUBSCRIBE_PATH = '/streamgate.v1.StreamService/Subscribe'

export interface Envelope {
  flags: number
  data: Buffer
}

export interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  envelopes: Envelope[]
  /** HTTP trailers (gRPC); empty otherwise. */
  trailers: Record<string, string | string[] | undefined>
  /** Bytes after the last whole envelope. */
  rest: Buffer
  /** HTTP/2: the RST_STREAM code, 0 when the stream ended normally. */
  rstCode: number
}

export const envelope = (data: Uint8Array, flags = 0) => {
  const bytes = Buffer.alloc(5 + data.length)
  bytes[0] = flags
  bytes.writeUInt32BE(data.length, 1)
  bytes.set(data, 5)
  return bytes
}

export const subscribeMessage = (request: MessageInitShape<typeof SubscribeRequestSchema>) => Buffer.from(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, request)))

export function splitEnvelopes(bytes: Buffer): { envelopes: Envelope[]; rest: Buffer } {
  const envelopes: Envelope[] = []
  let offset = 0
  while (bytes.length - offset >= 5 && bytes.length - offset >= 5 + bytes.readUInt32BE(offset + 1)) {
    const length = bytes.readUInt32BE(offset + 1)
    envelopes.push({ flags: bytes[offset]!, data: bytes.subarray(offset + 5, offset + 5 + length) })
    offset += 5 + length
  }
  return { envelopes, rest: bytes.subarray(offset) }
}

/** The messages of an answer (flag 0), decoded from the protobuf or the JSON codec. */
export const messagesOf = (answer: RawAnswer, json = false): SubscribeResponse[] =>
  answer.envelopes.filter((e) => e.flags === 0).map((e) => (json ? fromJsonString(SubscribeResponseSchema, e.data.toString()) : fromBinary(SubscribeResponseSchema, e.data)))

/** Connect's end-of-stream message (flag 2), parsed. */
export const endStreamOf = (answer: RawAnswer) => {
  const end = answer.envelopes.find((e) => e.flags === 2)
  return end && (JSON.parse(end.data.toString()) as { error?: { code: string; message?: string; details?: unknown[] }; metadata?: Record<string, string[]> })
}

/** gRPC-Web's trailer envelope (flag 0x80), as lower-cased fields. */
export const grpcWebTrailersOf = (answer: RawAnswer) => {
  const end = answer.envelopes.find((e) => e.flags === 0x80)
  if (!end) return undefined
  const fields: Record<string, string> = {}
  for (const line of end.data.toString().split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return fields
}

export interface RawCallOptions {
  headers: Record<string, string>
  body: Buffer
  /** Keep the request open after the body (default: end it). */
  keepOpen?: boolean
  method?: string
  /** Resolve once this many envelopes arrived, with the stream still open (then `close` it yourself). */
  untilEnvelopes?: number
}

/**
 * One call on HTTP/2 (h2c, or TLS with `ca`), on `session` or its own; resolves when the answer ended (or
 * the stream closed, or `untilEnvelopes`). `close` cancels the stream.
 */
export function h2Call(url: string, options: RawCallOptions & { ca?: Buffer; session?: http2.ClientHttp2Session }): Promise<RawAnswer> & { close(): void } {
  const session = options.session ?? http2.connect(url, options.ca ? { ca: options.ca } : {})
  if (!options.session) session.on('error', () => {})
  const stream = session.request({ ':method': options.method ?? 'POST', ':path': SUBSCRIBE_PATH, ...options.headers })
  if (options.keepOpen) stream.write(options.body)
  else stream.end(options.body)
  const answer = new Promise<RawAnswer>((resolve) => {
    let status = 0
    let headers: RawAnswer['headers'] = {}
    let trailers: RawAnswer['trailers'] = {}
    const chunks: Buffer[] = []
    const snapshot = (): RawAnswer => ({ status, headers, trailers, rstCode: stream.rstCode ?? 0, ...splitEnvelopes(Buffer.concat(chunks)) })
    stream.on('response', (h) => {
      status = Number(h[':status'])
      headers = h
    })
    stream.on('trailers', (t) => (trailers = t))
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (options.untilEnvelopes !== undefined && snapshot().envelopes.length >= options.untilEnvelopes) resolve(snapshot())
    })
    stream.on('error', () => {})
    // 'end': the server ended its side (a request kept open may keep the stream itself open).
    stream.on('end', () => resolve(snapshot()))
    stream.on('close', () => {
      resolve(snapshot())
      if (!options.session) session.close()
    })
  })
  return Object.assign(answer, { close: () => stream.close(http2.constants.NGHTTP2_CANCEL) })
}

/**
 * One call over HTTP/1.1 on its own connection; resolves when the response ends or the connection closes
 * (or once `untilEnvelopes` arrived: the connection is then closed).
 */
export function h1Call(url: string, options: RawCallOptions): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${SUBSCRIBE_PATH}`, { method: options.method ?? 'POST', headers: options.headers, agent: false })
    request.on('error', reject)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      const snapshot = (): RawAnswer => ({ status: response.statusCode ?? 0, headers: response.headers, trailers: response.trailers, rstCode: 0, ...splitEnvelopes(Buffer.concat(chunks)) })
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        if (options.untilEnvelopes === undefined || snapshot().envelopes.length < options.untilEnvelopes) return
        resolve(snapshot())
        request.destroy()
      })
      response.on('end', () => resolve(snapshot()))
      response.on('error', () => resolve(snapshot()))
    })
    if (options.keepOpen) request.write(options.body)
    else request.end(options.body)
  })
}
