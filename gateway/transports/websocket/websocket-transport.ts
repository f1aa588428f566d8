import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { type Caller, type Log, tokenFrom } from '../../core/auth.ts'
import { resumeFromToken } from '../../core/resume-token.ts'
import type { Gateway } from '../../core/gateway.ts'
import type { Disconnect } from '../../core/disconnect.ts'
import type { Wire } from '../../core/wire.ts'
import { errorFrame } from '../motia-frames.ts'
import { REQUEST_ID_HEADER, requestId } from '../request-id.ts'
import { textFrame, websocketFormat } from './websocket-format.ts'
import { parseClientFrame } from './join-message.ts'

export interface WebSocketTransportOptions {
  /** How often idle connections are pinged; a peer that missed the previous ping is dropped. */
  pingIntervalMs: number
  /**
   * Browser origins allowed to connect (`--cors-origin`), besides the gateway's own; empty: any. Clients
   * that send no `Origin` (every non-browser one) are not affected.
   */
  allowedOrigins: string[]
}

const transport = 'websocket'

/** The close code and reason for each way the core ends a connection. */
const closeFor: Record<Disconnect, [number, string]> = {
  shutdown: [1001, 'server shutting down'],
  slow_consumer: [1013, 'outbound queue limit exceeded'],
  internal: [1011, 'internal error'],
}

/** Answers an upgrade request without upgrading, and closes the connection. */
function refuseUpgrade(socket: Duplex, status: string, text: string, connId: string) {
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\n${REQUEST_ID_HEADER}: ${connId}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  )
}

/** The page's origin is the gateway's own: the same host the request was sent to. */
function isSameOrigin(origin: string, host: string | undefined) {
  try {
    return new URL(origin).host === host
  } catch {
    return false
  }
}

/**
 * Motia's WebSocket protocol on any path of the gateway's port. Authentication runs before the upgrade
 * (HTTP 401 when it throws); the offered `Authorization` subprotocol is echoed, never the token.
 */
export function websocketTransport(gateway: Gateway, options: WebSocketTransportOptions) {
  const { metrics, logger, limits } = gateway
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('Authorization') ? 'Authorization' : (protocols.values().next().value ?? false)),
  })
  const alive = new WeakSet<WebSocket>()
  // One listener for every connection (`this` is the socket that answered): a closure each costs memory.
  function answered(this: WebSocket) {
    alive.add(this)
  }
  // The connection id goes back in the 101 answer, as HTTP requests get theirs.
  const connIds = new WeakMap<IncomingMessage, string>()
  wss.on('headers', (headers, request) => headers.push(`${REQUEST_ID_HEADER}: ${connIds.get(request)}`))

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate()
        continue
      }
      alive.delete(ws)
      ws.ping()
    }
  }, options.pingIntervalMs)
  heartbeat.unref()

  function connect(ws: WebSocket, caller: Caller, log: Log) {
    metrics.connections.inc({ transport })
    alive.add(ws)
    ws.on('pong', answered)

    // The core hands each delivery round over at once; its frames are already whole WebSocket frames, shared
    // by every connection, and go into the socket in one writev. ws has no API for pre-framed data, hence
    // its `_socket`; ws writes its own frames (pings, close) to the same socket, whole, between rounds.
    const socket = (ws as unknown as { _socket: Socket })._socket
    const write = (frames: Buffer[]) => {
      if (ws.readyState !== WebSocket.OPEN) return true
      socket.cork()
      let writable = true
      for (const frame of frames) writable = socket.write(frame)
      socket.uncork()
      return writable
    }
    const wire: Wire = {
      write,
      refused: (subscriptionId, address, error) => {
        log.debug({ subscriptionId, address, code: error.code }, 'join refused')
        write([textFrame(errorFrame(address, error))])
      },
      close: (reason) => {
        const [code, text] = closeFor[reason]
        ws.close(code, text)
        // The close frame waits behind unsent data; a consumer that slow will not read it soon.
        setTimeout(() => ws.terminate(), 1000).unref()
      },
    }
    const session = gateway.openSession({ caller, transport, format: websocketFormat, wire })
    socket.on('drain', () => session.drained())

    ws.on('message', (data, isBinary) => {
      const message = parseClientFrame(isBinary || typeof data !== 'string' ? data.toString() : data)
      if ('invalid' in message) {
        metrics.rejectedInputs.inc({ transport, reason: message.invalid })
        log.debug({ reason: message.invalid }, 'ignored websocket frame')
        return
      }
      if (message.type === 'leave') session.unsubscribe(message.subscriptionId)
      else void session.subscribe(message.subscriptionId, message.address, resumeFromToken(message.resumeToken))
    })
    ws.on('error', (err) => {
      // ws closes with 1009 for an oversized frame and 1002/1007 for protocol errors; the log says which.
      metrics.rejectedInputs.inc({ transport, reason: 'protocol_error' })
      log.debug({ err }, 'websocket error')
    })
    ws.on('close', () => {
      session.close()
      metrics.connections.dec({ transport })
    })
  }

  return {
    async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      // Every line about the connection names it; the upgrade's `x-request-id`, when sane, is its id.
      const connId = requestId(request.headers)
      const log = logger.child({ connId })
      connIds.set(request, connId)
      socket.on('error', (err) => log.debug({ err }, 'upgrade socket error'))
      const { origin, host } = request.headers
      if (origin !== undefined && options.allowedOrigins.length > 0 && !options.allowedOrigins.includes(origin) && !isSameOrigin(origin, host)) {
        metrics.rejectedInputs.inc({ transport, reason: 'origin_not_allowed' })
        return refuseUpgrade(socket, '403 Forbidden', 'Origin not allowed', connId)
      }
      let caller
      try {
        const url = request.url ?? '/'
        caller = await gateway.authenticate({ headers: request.headers, url, token: tokenFrom(request.headers, url) }, { transport, log })
      } catch {
        metrics.rejectedInputs.inc({ transport, reason: 'unauthenticated' })
        return refuseUpgrade(socket, '401 Unauthorized', 'Authentication failed', connId)
      }
      if (socket.destroyed) return
      wss.handleUpgrade(request, socket, head, (ws) => connect(ws, caller, log))
    },

    /** Tells every client to come back (1001) and waits for the sockets to close. */
    async close() {
      clearInterval(heartbeat)
      const closing = [...wss.clients].map(
        (ws) =>
          new Promise<void>((resolve) => {
            ws.once('close', () => resolve())
            ws.close(...closeFor.shutdown)
            setTimeout(() => ws.terminate(), 2000).unref()
          }),
      )
      await Promise.all(closing)
      wss.close()
    },
  }
}
