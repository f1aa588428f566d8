import net from 'node:net'

export interface HttpResult {
  status: number
  body: Buffer
  /** The response head, lower-cased. */
  head: string
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n')

/**
 * A minimal keep-alive HTTP/1.1 client: one socket, one request at a time (so the writes of one lane reach
 * the server in order), a few microseconds of client CPU per request (Node's http client costs ~10x more,
 * which would make the writer the bottleneck of the load generator). Reconnects when the server closed an
 * idle connection.
 */
export class HttpConn {
  private socket: net.Socket | null = null
  private buf: Buffer | null = null
  private waiter: { resolve(r: HttpResult): void; reject(e: Error): void } | null = null
  private readonly hostHeader: string

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.hostHeader = `${host}:${port}`
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    const fail = (error?: Error) => {
      if (this.socket === socket) this.socket = null
      this.buf = null
      const waiter = this.waiter
      this.waiter = null
      waiter?.reject(error ?? new Error('connection closed before the response'))
    }
    socket.on('error', fail)
    socket.on('close', () => fail())
    this.socket = socket
    return socket
  }

  private onData(chunk: Buffer) {
    const buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk])
    this.buf = buf
    const headEnd = buf.indexOf(CRLFCRLF)
    if (headEnd < 0) return
    const head = buf.toString('latin1', 0, headEnd).toLowerCase()
    const bodyStart = headEnd + 4
    let bodyEnd: number
    const lengthAt = head.indexOf('content-length:')
    if (lengthAt >= 0) {
      bodyEnd = bodyStart + parseInt(head.slice(lengthAt + 15), 10)
      if (buf.length < bodyEnd) return
    } else if (head.includes('transfer-encoding: chunked')) {
      const end = buf.indexOf(CHUNKED_END, bodyStart - 2)
      if (end < 0) return
      bodyEnd = end + CHUNKED_END.length
    } else bodyEnd = bodyStart
    this.buf = bodyEnd < buf.length ? buf.subarray(bodyEnd) : null
    const waiter = this.waiter
    this.waiter = null
    waiter?.resolve({ status: Number(head.slice(9, 12)), body: buf.subarray(bodyStart, bodyEnd), head })
  }

  /** `headers`: extra header lines, each ending in CRLF. */
  request(method: string, path: string, body: string, contentType = 'application/json', headers = ''): Promise<HttpResult> {
    if (this.waiter) return Promise.reject(new Error('HttpConn: one request at a time'))
    const socket = this.socket ?? this.connect()
    return new Promise<HttpResult>((resolve, reject) => {
      this.waiter = { resolve, reject }
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`,
      )
    })
  }

  close() {
    this.socket?.destroy()
    this.socket = null
  }
}
