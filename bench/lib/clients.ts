import { randomBytes } from 'node:crypto'
import http2 from 'node:http2'
import net from 'node:net'
import { nowUs } from './clock.ts'
import { HASH } from './marker.ts'

/**
 * Minimal subscriber clients for the load generator: an RFC 6455 client, an SSE client and a gRPC
 * server-streaming client, each on a plain socket (net / node:http2), so that receiving a frame costs a few
 * hundred nanoseconds and the load generator is not what limits the measurement. They hand every received
 * message to `onMessage(buf, start, end, nowUs, isSync)`, with one receive time per socket read.
 */

export interface Endpoint {
  host: string
  port: number
  /** Source address (127.0.0.x) when many connections need more than one address's ephemeral ports. */
  localAddress?: string
}

export interface Handlers {
  onMessage(buf: Buffer, start: number, end: number, nowUs: number, isSync: boolean): void
  /** The subscription request went out (the connection is open). */
  onOpen(): void
  /** The connection ended; `error` when it failed. Called once. */
  onClose(error?: Error): void
  /** WebSocket: the server's close frame arrived, with its status code. */
  onCloseFrame?(code: number): void
}

export interface Connection {
  /** Abortive close (TCP RST): no TIME_WAIT, like a dropped network. */
  reset(): void
}

/** A connection whose reading can be stopped, so the kernel buffers fill and the server's queue grows. */
export interface PausableConnection extends Connection {
  pause(): void
  resume(): void
}

const SYNC_JSON = Buffer.from('"type":"sync"')
const TYPE_JSON = Buffer.from('"type":"')
/**
 * Motia frames (WebSocket) and SSE messages: a sync snapshot names its event type. The event's `"type":"`
 * is the last one before the first item's marker (items carry no `type`), so only that byte is looked at;
 * a frame without a marker (an empty sync, another event) is searched whole.
 */
function isJsonSync(buf: Buffer, start: number, end: number): boolean {
  const m = buf.indexOf(HASH, start)
  if (m < 0 || m >= end) {
    const i = buf.indexOf(SYNC_JSON, start)
    return i >= 0 && i < end
  }
  const t = buf.lastIndexOf(TYPE_JSON, m)
  return t >= start && buf[t + TYPE_JSON.length] === 115 /* s */ && buf.indexOf(SYNC_JSON, t) === t
}

/**
 * Sockets read into one shared buffer through `onread` (no stream machinery, no allocation per read);
 * a partial frame left at the end of a read is copied out before the buffer is reused.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

function resetSocket(socket: net.Socket) {
  if (socket.destroyed) return
  if (typeof socket.resetAndDestroy === 'function' && socket.readyState === 'open') socket.resetAndDestroy()
  else socket.destroy()
}

/** A client text frame; the mask key is zero (valid per RFC 6455, so the payload is sent as is). */
export function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const len = payload.length
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff, 0, 0, 0, 0])
  if (len > 0xffff) throw new Error('frame too large')
  return Buffer.concat([header, payload])
}

export const joinFrame = (streamName: string, groupId: string, subscriptionId: string) =>
  clientTextFrame(JSON.stringify({ type: 'join', data: { streamName, groupId, subscriptionId } }))

const CRLFCRLF = Buffer.from('\r\n\r\n')

/** Reads an HTTP response head; returns [status, headers text, offset of the body] or null if incomplete. */
function readHead(buf: Buffer): [number, string, number] | null {
  const end = buf.indexOf(CRLFCRLF)
  if (end < 0) return null
  const head = buf.toString('latin1', 0, end)
  return [Number(head.slice(9, 12)), head.toLowerCase(), end + 4]
}

/** WebSocket: upgrade on `/`, then one join frame; every text frame from the server is a Motia frame. */
export function wsSubscribe(endpoint: Endpoint, join: Buffer, handlers: Handlers): PausableConnection {
  const socket = net.connect({
    host: endpoint.host,
    port: endpoint.port,
    localAddress: endpoint.localAddress,
    onread: { buffer: READ_BUFFER, callback: (nread: number, buffer: Uint8Array) => (onData(buffer as Buffer, nread), true) },
  })
  socket.setNoDelay(true)
  let upgraded = false
  let left: Buffer | null = null
  let closed = false
  const close = (error?: Error) => {
    if (closed) return
    closed = true
    handlers.onClose(error)
  }
  socket.on('connect', () => {
    const key = randomBytes(16).toString('base64')
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
  })
  const onData = (chunk: Buffer, nread: number): void => {
    const now = nowUs()
    const buf = left === null ? chunk : Buffer.concat([left, chunk.subarray(0, nread)])
    const length = left === null ? nread : buf.length
    left = null
    let off = 0
    if (!upgraded) {
      const head = readHead(buf.subarray(0, length))
      if (!head) {
        left = Buffer.from(buf.subarray(0, length))
        return
      }
      if (head[0] !== 101) {
        close(new Error(`websocket upgrade refused: HTTP ${head[0]}`))
        socket.destroy()
        return
      }
      upgraded = true
      off = head[2]
      socket.write(join)
      handlers.onOpen()
    }
    for (;;) {
      if (length - off < 2) break
      const b0 = buf[off]!
      let len = buf[off + 1]! & 0x7f
      let headerLength = 2
      if (len === 126) {
        if (length - off < 4) break
        len = buf.readUInt16BE(off + 2)
        headerLength = 4
      } else if (len === 127) {
        if (length - off < 10) break
        len = buf.readUIntBE(off + 4, 6)
        headerLength = 10
      }
      const start = off + headerLength
      const end = start + len
      if (end > length) break
      const opcode = b0 & 0x0f
      if (opcode === 1 || opcode === 2 || opcode === 0) handlers.onMessage(buf, start, end, now, isJsonSync(buf, start, end))
      else if (opcode === 9) {
        // Pong with the ping's payload (masked with a zero key).
        socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), buf.subarray(start, end)]))
      } else if (opcode === 8) {
        handlers.onCloseFrame?.(len >= 2 ? buf.readUInt16BE(start) : 1005)
        socket.end()
      }
      off = end
    }
    if (off < length) left = Buffer.from(buf.subarray(off, length))
  }
  socket.on('error', (error) => close(error))
  socket.on('close', () => close())
  // With `onread`, pause() stops reading from the kernel (readStop), as ws's `_socket.pause()` would.
  return { reset: () => resetSocket(socket), pause: () => socket.pause(), resume: () => socket.resume() }
}

const LFLF = Buffer.from('\n\n')

/** SSE: GET with Accept: text/event-stream; de-chunks the body and splits it into messages. */
export function sseSubscribe(endpoint: Endpoint, path: string, handlers: Handlers): Connection {
  const socket = net.connect({
    host: endpoint.host,
    port: endpoint.port,
    localAddress: endpoint.localAddress,
    onread: { buffer: READ_BUFFER, callback: (nread: number, buffer: Uint8Array) => (onData(buffer as Buffer, nread), true) },
  })
  socket.setNoDelay(true)
  let headDone = false
  let chunked = false
  let left: Buffer | null = null
  /** De-chunking state: bytes left in the current chunk's data (-1: reading a size line; -2: its CRLF). */
  let chunkLeft = -1
  /** SSE bytes of a message not complete yet. */
  let partial: Buffer | null = null
  let closed = false
  const close = (error?: Error) => {
    if (closed) return
    closed = true
    handlers.onClose(error)
  }
  socket.on('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`)
  })
  /** SSE bytes buf[start, end): split on blank lines. */
  const sse = (buf: Buffer, start: number, end: number, now: number) => {
    if (partial !== null) {
      buf = Buffer.concat([partial, buf.subarray(start, end)])
      start = 0
      end = buf.length
      partial = null
    }
    let from = start
    for (;;) {
      const i = buf.indexOf(LFLF, from)
      if (i < 0 || i + 2 > end) break
      if (i > from) handlers.onMessage(buf, from, i, now, isJsonSync(buf, from, i))
      from = i + 2
    }
    if (from < end) partial = Buffer.from(buf.subarray(from, end))
  }
  const onData = (chunk: Buffer, nread: number): void => {
    const now = nowUs()
    const buf = left === null ? chunk : Buffer.concat([left, chunk.subarray(0, nread)])
    const length = left === null ? nread : buf.length
    left = null
    let off = 0
    if (!headDone) {
      const head = readHead(buf.subarray(0, length))
      if (!head) {
        left = Buffer.from(buf.subarray(0, length))
        return
      }
      if (head[0] !== 200) {
        close(new Error(`SSE request refused: HTTP ${head[0]}`))
        socket.destroy()
        return
      }
      headDone = true
      chunked = head[1].includes('transfer-encoding: chunked')
      off = head[2]
      handlers.onOpen()
    }
    if (!chunked) {
      if (off < length) sse(buf, off, length, now)
      return
    }
    while (off < length) {
      if (chunkLeft === -1) {
        const lineEnd = buf.indexOf(13, off)
        if (lineEnd < 0 || lineEnd + 1 >= length) {
          left = Buffer.from(buf.subarray(off, length))
          return
        }
        chunkLeft = parseInt(buf.toString('latin1', off, lineEnd), 16)
        off = lineEnd + 2
        if (chunkLeft === 0) {
          socket.end()
          return
        }
      } else if (chunkLeft === -2) {
        if (length - off < 2) {
          left = Buffer.from(buf.subarray(off, length))
          return
        }
        off += 2
        chunkLeft = -1
      } else {
        const take = Math.min(chunkLeft, length - off)
        sse(buf, off, off + take, now)
        off += take
        chunkLeft -= take
        if (chunkLeft === 0) chunkLeft = -2
      }
    }
  }
  socket.on('error', (error) => close(error))
  socket.on('close', () => close())
  return { reset: () => resetSocket(socket) }
}

/** Protobuf: a length-delimited field. */
function lenField(field: number, value: string): Buffer {
  const bytes = Buffer.from(value)
  if (bytes.length > 127) throw new Error('field too long')
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes])
}

/** A gRPC message frame: flag byte, 4-byte length, message. */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.writeUInt32BE(message.length, 1)
  return Buffer.concat([header, message])
}

/** streamgate.v1.SubscribeRequest {stream_name = 1, group_id = 2}. */
export const subscribeRequest = (streamName: string, groupId: string) => grpcFrame(Buffer.concat([lenField(1, streamName), lenField(2, groupId)]))

/** A SubscribeResponse carries a sync when its top-level field 10 (oneof event: sync) is set. */
function isProtoSync(buf: Buffer, start: number, end: number): boolean {
  let i = start
  while (i < end) {
    let tag = 0
    let shift = 0
    let b = 0
    do {
      b = buf[i++]!
      tag |= (b & 0x7f) << shift
      shift += 7
    } while (b & 0x80 && i < end)
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 10) return true
    if (field > 10) return false
    if (wire === 0) {
      while (buf[i++]! & 0x80 && i < end);
    } else if (wire === 2) {
      let len = 0
      shift = 0
      do {
        b = buf[i++]!
        len += (b & 0x7f) * 2 ** shift
        shift += 7
      } while (b & 0x80 && i < end)
      i += len
    } else if (wire === 1) i += 8
    else if (wire === 5) i += 4
    else return false
  }
  return false
}

/**
 * gRPC server streaming over HTTP/2 (h2c): one session per subscriber (`session` shared when given), the
 * Subscribe call of streamgate.v1.StreamService, messages de-framed from the DATA stream.
 */
export function grpcSubscribe(endpoint: Endpoint, request: Buffer, handlers: Handlers, shared?: http2.ClientHttp2Session): Connection {
  let socket: net.Socket | undefined
  const session =
    shared ??
    http2.connect(`http://${endpoint.host}:${endpoint.port}`, {
      settings: { initialWindowSize: 1 << 20 },
      createConnection: () => (socket = net.connect({ host: endpoint.host, port: endpoint.port, localAddress: endpoint.localAddress })),
    })
  let closed = false
  const close = (error?: Error) => {
    if (closed) return
    closed = true
    handlers.onClose(error)
  }
  if (!shared) session.on('error', (error) => close(error))
  const stream = session.request({
    ':method': 'POST',
    ':path': '/streamgate.v1.StreamService/Subscribe',
    'content-type': 'application/grpc',
    te: 'trailers',
  })
  let left: Buffer | null = null
  stream.on('response', (headers) => {
    if (headers[':status'] !== 200) close(new Error(`gRPC Subscribe: HTTP ${headers[':status']}`))
    else handlers.onOpen()
  })
  stream.on('data', (chunk: Buffer) => {
    const now = nowUs()
    const buf = left === null ? chunk : Buffer.concat([left, chunk])
    left = null
    let off = 0
    const length = buf.length
    while (length - off >= 5) {
      const len = buf.readUInt32BE(off + 1)
      const start = off + 5
      const end = start + len
      if (end > length) break
      handlers.onMessage(buf, start, end, now, isProtoSync(buf, start, end))
      off = end
    }
    if (off < length) left = buf.subarray(off)
  })
  stream.on('trailers', (trailers) => {
    const status = trailers['grpc-status']
    if (status !== undefined && status !== '0') close(new Error(`gRPC Subscribe: status ${status} ${trailers['grpc-message'] ?? ''}`))
  })
  stream.on('error', (error) => close(error))
  stream.on('close', () => {
    close()
    if (!shared) session.close()
  })
  stream.end(request)
  return {
    reset: () => {
      if (shared) stream.close(http2.constants.NGHTTP2_CANCEL)
      else {
        if (socket) resetSocket(socket)
        session.destroy()
      }
    },
  }
}
