import http from 'node:http'
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import tls from 'node:tls'
import type { HttpSettings } from './http-settings.ts'

export interface TlsOptions {
  cert: string | Buffer
  key: string | Buffer
}

/** Why a connection was closed before it was served. */
export type RefusedConnection = 'max_connections' | 'accept_failed'

export interface OnePortOptions {
  settings: HttpSettings
  /** Advertised to HTTP/2 clients (SETTINGS_MAX_CONCURRENT_STREAMS) and enforced per session. */
  maxConcurrentStreams: number
  /** With a certificate the port speaks HTTPS (HTTP/2 and HTTP/1.1 by ALPN). */
  tls?: TlsOptions
  /** A connection closed at once: over `maxConnections`, or one the system failed to accept. */
  refused?: (reason: RefusedConnection, error?: Error) => void
}

const PREFACE_START = Buffer.from('PRI')

/** HTTP/2 when the bytes start the preface, HTTP/1.1 when they cannot, undefined while too few arrived. */
function isHttp2(head: Buffer): boolean | undefined {
  const n = Math.min(head.length, PREFACE_START.length)
  if (!head.subarray(0, n).equals(PREFACE_START.subarray(0, n))) return false
  return n === PREFACE_START.length ? true : undefined
}

/**
 * A header list's size as HTTP/2 counts it (RFC 9113 section 6.5.2): each header's name and value and 32
 * octets; `rawHeaders` alternates names and values, so 16 for each of them.
 */
function headerListSize(rawHeaders: string[]) {
  let size = 0
  for (const field of rawHeaders) size += field.length + 16
  return size
}

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
  /** Connections whose protocol is not known yet: nothing serves them, so close() ends them at once. */
  private readonly undecided = new Set<Socket>()
  private readonly sessions = new Set<Http2Session>()
  private readonly settings: HttpSettings
  private pinger: NodeJS.Timeout | undefined

  /** `handler` serves both HTTP versions: fastify's handler works with Node's HTTP/2 compatibility API. */
  constructor(handler: http.RequestListener, options: OnePortOptions) {
    const { settings } = options
    this.settings = settings
    this.http1 = http.createServer(
      {
        headersTimeout: settings.headersTimeoutMs,
        requestTimeout: settings.requestTimeoutMs,
        keepAliveTimeout: settings.idleTimeoutMs,
        // Node checks both request timeouts on this interval (30 s by default, longer than the timeouts).
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(settings.headersTimeoutMs / 4))),
        maxHeaderSize: settings.maxHeaderBytes,
      },
      handler,
    )
    const handle = handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void
    this.http2 = http2.createServer(
      {
        settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: settings.maxHeaderBytes },
        maxSessionMemory: settings.maxSessionMemoryBytes / 1e6,
      },
      // Node only advertises SETTINGS_MAX_HEADER_LIST_SIZE (it enforces a fixed 64 KiB): the limit is applied
      // here, as HTTP/1.1 applies it, with a 431.
      (req, res) => (headerListSize(req.rawHeaders) > settings.maxHeaderBytes ? res.writeHead(431).end() : handle(req, res)),
    )
    this.http2.on('session', (session) => this.watchSession(session))
    this.front = options.tls
      ? tls.createServer({ ...options.tls, ALPNProtocols: ['h2', 'http/1.1'], handshakeTimeout: settings.firstBytesTimeoutMs }, (socket) =>
          this.dispatch(socket, socket.alpnProtocol === 'h2'),
        )
      : net.createServer((socket) => this.sniff(socket))
    // The TCP sockets, TLS handshakes in progress included: close() destroys what is left after its grace.
    this.front.on('connection', (socket: Socket) => this.track(socket))
    // Node reports a failed or timed-out handshake here and leaves the connection open unless told otherwise.
    this.front.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy())
    this.front.maxConnections = settings.maxConnections
    this.front.on('drop', () => options.refused?.('max_connections'))
    // libuv drops what it cannot accept for want of descriptors (EMFILE) itself; other failed accepts (ENOBUFS,
    // ENOMEM, ...) are emitted here, and without a listener they would end the process.
    this.front.on('error', (error: NodeJS.ErrnoException) => {
      if (error.syscall === 'accept') options.refused?.('accept_failed', error)
    })
  }

  private track(socket: Socket) {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  private dispatch(socket: Socket, isHttp2: boolean) {
    ;(isHttp2 ? this.http2 : this.http1).emit('connection', socket)
  }

  /**
   * Reads the first bytes without consuming them ('readable' + unshift keeps them for the HTTP/2 session).
   * What `read()` returned is kept until enough arrived and put back once, when dispatching: an `unshift()`
   * inside the handler would re-arm 'readable' at once, a busy loop for a peer that sent one byte.
   */
  private sniff(socket: Socket) {
    this.undecided.add(socket)
    let head: Buffer = Buffer.alloc(0)
    const giveUp = () => socket.destroy()
    const deadline = setTimeout(giveUp, this.settings.firstBytesTimeoutMs)
    // Every listener goes once the connection is dispatched (or closed): a connection that lives for hours
    // must not keep the sniffing's closures, its cleared timer and its first bytes.
    const settle = () => {
      clearTimeout(deadline)
      this.undecided.delete(socket)
      socket.removeListener('readable', onReadable)
      socket.removeListener('end', giveUp)
      socket.removeListener('error', giveUp)
      socket.removeListener('close', settle)
    }
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read()) !== null; ) head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const http2 = isHttp2(head)
      if (http2 === undefined) return
      settle()
      socket.unshift(head)
      this.dispatch(socket, http2)
    }
    socket.on('error', giveUp)
    socket.once('close', settle)
    socket.once('end', giveUp)
    socket.on('readable', onReadable)
  }

  /**
   * An HTTP/2 session must finish its preface and first SETTINGS within the first-bytes deadline, and is
   * closed (GOAWAY) once it has had no open stream for the idle timeout. A request whose headers began but
   * never ended keeps a closing session open: it is destroyed after the headers timeout.
   */
  private watchSession(session: Http2Session) {
    this.sessions.add(session)
    const preface = setTimeout(() => session.destroy(), this.settings.firstBytesTimeoutMs)
    session.once('remoteSettings', () => clearTimeout(preface))
    let idle: NodeJS.Timeout | undefined
    const startIdle = () => {
      idle = setTimeout(() => {
        session.close()
        setTimeout(() => session.destroy(), this.settings.headersTimeoutMs).unref()
      }, this.settings.idleTimeoutMs)
      idle.unref()
    }
    let streams = 0
    session.on('stream', (stream) => {
      streams += 1
      clearTimeout(idle)
      stream.once('close', () => {
        streams -= 1
        if (streams === 0 && !session.closed) startIdle()
      })
    })
    startIdle()
    session.once('close', () => {
      clearTimeout(preface)
      clearTimeout(idle)
      this.sessions.delete(session)
    })
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
    // Connections that have not said which protocol they speak keep the front server open forever.
    for (const socket of this.undecided) socket.destroy()
    await closed
    clearTimeout(timer)
  }
}
