import { once } from 'node:events'
import net from 'node:net'

const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)) {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(streamId, 5)
  return Buffer.concat([head, payload])
}

/** HPACK "literal header field without indexing, new name", no Huffman: always valid, no shared state. */
function headerBlock(headers: Array<[string, string]>) {
  const parts: Buffer[] = []
  const string = (s: string) => {
    const bytes = Buffer.from(s, 'latin1')
    if (bytes.length > 126) throw new Error('raw-h2 writes header strings of at most 126 bytes')
    return Buffer.concat([Buffer.from([bytes.length]), bytes])
  }
  for (const [name, value] of headers) parts.push(Buffer.from([0]), string(name), string(value))
  return Buffer.concat(parts)
}

export interface StreamState {
  /** The response HEADERS arrived. */
  responded: boolean
  /** Bytes of DATA received. */
  dataBytes: number
  /** The RST_STREAM error code, if the server reset the stream. */
  resetCode?: number
  /** The server ended the stream (END_STREAM on HEADERS or DATA): with trailers only, the call was answered without data. */
  ended: boolean
}

/**
 * A bare HTTP/2 client that writes frames itself, so it can do what Node's client refuses to: open more
 * streams than the server's SETTINGS_MAX_CONCURRENT_STREAMS allows. It answers SETTINGS and PING, grants
 * flow control generously, and records what the server does with each stream.
 */
export class RawH2 {
  readonly streams = new Map<number, StreamState>()
  remoteSettings = new Map<number, number>()
  goaway: { lastStreamId: number; code: number } | undefined
  closed = false
  private nextId = 1

  private constructor(private readonly socket: net.Socket) {
    let buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
        const length = buffer.readUIntBE(0, 3)
        this.onFrame(buffer[3]!, buffer[4]!, buffer.readUInt32BE(5) & 0x7fffffff, buffer.subarray(9, 9 + length))
        buffer = buffer.subarray(9 + length)
      }
    })
    socket.on('error', () => {})
    socket.once('close', () => (this.closed = true))
  }

  static async connect(port: number): Promise<RawH2> {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const client = new RawH2(socket)
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), frame(FRAME.WINDOW_UPDATE, 0, 0, uint32(1 << 30))]))
    const deadline = Date.now() + 5000
    while (client.remoteSettings.size === 0 && !client.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    return client
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer) {
    const stream = this.streams.get(streamId)
    switch (type) {
      case FRAME.SETTINGS:
        if (flags & FLAG.ACK) return
        for (let i = 0; i + 6 <= payload.length; i += 6) this.remoteSettings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2))
        this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0))
        return
      case FRAME.PING:
        if (!(flags & FLAG.ACK)) this.socket.write(frame(FRAME.PING, FLAG.ACK, 0, payload))
        return
      case FRAME.GOAWAY:
        this.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) }
        return
      case FRAME.HEADERS:
        if (!stream) return
        stream.responded = true
        if (flags & FLAG.END_STREAM) stream.ended = true
        return
      case FRAME.DATA:
        if (!stream) return
        stream.dataBytes += payload.length
        if (flags & FLAG.END_STREAM) stream.ended = true
        if (payload.length > 0) this.socket.write(frame(FRAME.WINDOW_UPDATE, 0, streamId, uint32(payload.length)))
        return
      case FRAME.RST_STREAM:
        if (stream) stream.resetCode = payload.readUInt32BE(0)
        return
    }
  }

  /** Opens a stream: HEADERS, then `body` as one DATA frame (END_STREAM). Returns its id. */
  request(headers: Array<[string, string]>, body?: Buffer): number {
    const id = this.nextId
    this.nextId += 2
    this.streams.set(id, { responded: false, dataBytes: 0, ended: false })
    const frames = [frame(FRAME.HEADERS, FLAG.END_HEADERS | (body ? 0 : FLAG.END_STREAM), id, headerBlock(headers))]
    if (body) frames.push(frame(FRAME.WINDOW_UPDATE, 0, id, uint32(1 << 30)), frame(FRAME.DATA, FLAG.END_STREAM, id, body))
    this.socket.write(Buffer.concat(frames))
    return id
  }

  destroy() {
    this.socket.destroy()
  }
}

const uint32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** The SETTINGS identifiers of RFC 9113 section 6.5.2 that the tests read. */
export const SETTINGS = { MAX_CONCURRENT_STREAMS: 3, MAX_HEADER_LIST_SIZE: 6 } as const
/** RST_STREAM and GOAWAY codes. */
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, ENHANCE_YOUR_CALM: 11 } as const
