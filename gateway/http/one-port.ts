import http from 'node:http'
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import tls from 'node:tls'

export interface TlsOptions {
  cert: string | Buffer
  key: string | Buffer
}


const PREFACE_START = 'PRI'

/**
 * One port for everything: HTTP/1.1 (REST, SSE, WebSocket upgrades, Connect, gRPC-Web) and HTTP/2 (gRPC,
 * Connect). Node's HTTP/2 server refuses HTTP/1.1 without TLS, so in cleartext the first bytes decide: the
 * HTTP/2 preface goes to the HTTP/2 server, anything else to the HTTP/1.1 one. With TLS, ALPN decides.
 * Both servers run the same request handler.
 */
export class OnePort {
  readonly http1: http.Server
  readonly http2: http2.Http2Server
  private readonly front: net.Server
  private readonly sockets = new Set<Socket>()
  private readonly sessions = new Set<Http2Session>()
  private pinger: NodeJS.Timeout | undefined

  /** `handler` serves both HTTP versions: fastify's handler works with Node's HTTP/2 compatibility API. */
  constructor(handler: http.RequestListener, tlsOptions?: TlsOptions) {
    this.http1 = http.createServer(handler)
    this.http2 = http2.createServer(handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void)
    this.http2.on('session', (session) => {
      this.sessions.add(session)
      session.once('close', () => this.sessions.delete(session))
    })
    this.front = tlsOptions
      ? tls.createServer({ ...tlsOptions, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
          this.track(socket)
          this.dispatch(socket, socket.alpnProtocol === 'h2')
        })
      : net.createServer((socket) => {
          this.track(socket)
          this.sniff(socket)
        })
  }

  private track(socket: Socket) {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  private dispatch(socket: Socket, isHttp2: boolean) {
    ;(isHttp2 ? this.http2 : this.http1).emit('connection', socket)
  }

  /** Reads the first bytes without consuming them ('readable' + unshift keeps them for the HTTP/2 session). */
  private sniff(socket: Socket) {
    socket.on('error', () => socket.destroy())
    const onReadable = () => {
      const chunk: Buffer | null = socket.read()
      if (chunk === null) return
      socket.unshift(chunk)
      const start = chunk.subarray(0, PREFACE_START.length).toString('latin1')
      if (start.length < PREFACE_START.length && PREFACE_START.startsWith(start)) return
      socket.removeListener('readable', onReadable)
      this.dispatch(socket, start === PREFACE_START)
    }
    socket.on('readable', onReadable)
  }

  /**
   * Pings every HTTP/2 session each `intervalMs`, so long streams keep idle proxies and NATs open, and
   * closes a session that did not answer the previous ping (the peer is gone).
   */
  pingSessions(intervalMs: number) {
    const unanswered = new WeakSet<Http2Session>()
    clearInterval(this.pinger)
    this.pinger = setInterval(() => {
      for (const session of this.sessions) {
        if (session.destroyed || session.connecting) continue
        if (unanswered.has(session)) {
          session.destroy()
          continue
        }
        unanswered.add(session)
        session.ping((error) => {
          if (!error) unanswered.delete(session)
        })
      }
    }, intervalMs)
    this.pinger.unref()
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.front.once('error', reject)
      // A deep accept queue: Motia's clients all reconnect within the same second after a restart.
      this.front.listen({ port, host, backlog: 4096 }, () => {
        this.front.removeListener('error', reject)
        // The HTTP/1.1 server starts tracking connections (request timeouts, closing idle keep-alive
        // connections on close) on 'listening'; the front server listens for it.
        this.http1.emit('listening')
        resolve(this.front.address() as AddressInfo)
      })
    })
  }

  /**
   * Stops accepting, lets HTTP/2 sessions finish their streams (GOAWAY), closes idle HTTP/1.1 connections,
   * and destroys whatever is still open after `graceMs`. Transports end their long-lived streams first.
   */
  async close(graceMs = 2000) {
    clearInterval(this.pinger)
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()))
    for (const session of this.sessions) session.close()
    // Closes idle keep-alive connections and stops the timeout checks; the server itself never listened.
    this.http1.close(() => {})
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy()
    }, graceMs)
    timer.unref()
    // Sockets that never sent a byte keep the front server open forever.
    for (const socket of this.sockets) if (socket.bytesRead === 0) socket.destroy()
    await closed
    clearTimeout(timer)
  }
}
