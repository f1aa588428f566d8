import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import { pino } from 'pino'
import { redactUrl } from './core/auth.ts'
import { defaultLimits } from './core/limits.ts'
import { defaultHttpSettings, type HttpSettings } from './http/http-settings.ts'
import { OnePort, type RefusedConnection, type TlsOptions } from './http/one-port.ts'
import { type MountOptions, type MountedGateway, mountGateway } from './mount.ts'
import { clientErrorHandler, sendFailure, sendNotFound } from './transports/http-requests.ts'
import { genReqId } from './transports/request-id.ts'

/** HTTP/2 streams a session may hold open beyond its subscriptions, for unary calls. */
export const UNARY_STREAMS = 100

/** One line per request is too much at info level for a gateway; it stays available at debug. */
class DebugRequestLogs extends LogController {
  override incomingRequest(request: FastifyRequest) {
    request.log.debug({ req: request }, 'incoming request')
  }
  override requestCompleted(_error: unknown, request: FastifyRequest, reply: FastifyReply) {
    request.log.debug({ statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/** Fastify's request serialisation, without the values of `?authToken=`: tokens never reach the logs. */
const requestSerializer = (request: FastifyRequest) => ({
  method: request.method,
  url: redactUrl(request.url),
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort,
})

export interface ServerOptions extends MountOptions {
  /** Timeouts and sizes of the shared port's HTTP/1.1 and HTTP/2 servers. */
  http?: Partial<HttpSettings>
  /** With a certificate the port speaks HTTPS (HTTP/2 and HTTP/1.1 by ALPN) and wss://. */
  tls?: TlsOptions
}

/**
 * One gateway on one port: REST, WebSocket (any path) and operations routes over the same core. Embedders
 * get the fastify app to add their own routes and Motia's `streams` API to write from them. The gateway is
 * mounted at the root of the app, so its error answers, request ids and body limit hold for every route.
 */
export async function createGateway(options: ServerOptions) {
  const logger = options.logger ?? pino({ level: 'info' })
  const limits = { ...defaultLimits, ...options.limits }
  let listening = false
  // Node and fastify refuse requests before any route runs; they are counted with the gateway's metrics.
  let mounted: MountedGateway | undefined

  // One warning per burst, not one per connection: a flood of refusals must not become a flood of logs.
  let lastRefusalLog = 0
  const refused = (reason: RefusedConnection, error?: Error) => {
    mounted?.metrics.connectionsRefused.inc({ reason })
    if (Date.now() - lastRefusalLog < 10_000) return
    lastRefusalLog = Date.now()
    logger.warn({ reason, err: error }, 'refusing new connections (see streamgate_connections_refused_total)')
  }
  const http = { ...defaultHttpSettings, ...options.http }
  let port: OnePort | undefined
  const app = Fastify({
    loggerInstance: logger.child({}, { serializers: { req: requestSerializer } }) as FastifyBaseLogger,
    bodyLimit: limits.maxItemBytes,
    logController: new DebugRequestLogs(),
    // genReqId reads `x-request-id` itself: fastify's requestIdHeader would take any value unchecked.
    requestIdHeader: false,
    genReqId,
    // A path parameter can be no longer than the request line, which the header limit bounds: every name
    // reaches the core, which refuses one that is too long the way every transport does.
    routerOptions: { maxParamLength: http.maxHeaderBytes },
    frameworkErrors: (error, request, reply) => sendFailure(mounted!.gateway, 'rest', error, request, reply),
    clientErrorHandler: (error, socket) => clientErrorHandler(mounted!.gateway)(error, socket),
    serverFactory: (handler) => {
      port = new OnePort(handler, {
        settings: http,
        // Room beside a full subscription budget for the unary calls a gRPC channel makes on the same
        // session: the subscriptions past the budget get RESOURCE_EXHAUSTED from the core, not a stall.
        maxConcurrentStreams: limits.maxSubscriptionsPerConnection + UNARY_STREAMS,
        tls: options.tls,
        refused,
      })
      return port.http1
    },
  })
  const onePort = port!
  // HTTP/2 keepalive for gRPC and Connect streams, on the WebSocket ping interval.
  onePort.pingSessions(options.pingIntervalMs ?? 30_000)
  const gateway = (mounted = await mountGateway(app, { ...options, logger }, () => listening))
  // Requests outside every transport's routes get the contract's error shape too.
  app.setNotFoundHandler((request, reply) => sendNotFound(gateway.gateway, request, reply))

  return {
    app,
    gateway: gateway.gateway,
    streams: gateway.streams,
    metrics: gateway.metrics,
    async listen(portNumber: number, host: string): Promise<string> {
      await app.ready()
      const bound = await onePort.listen(portNumber, host)
      listening = true
      const hostname = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
      return `${options.tls ? 'https' : 'http'}://${hostname}:${bound.port}`
    },
    /**
     * `/readyz` turns 503 at once; after `drainDelayMs` (cut short by `signal`), so that load balancers stop
     * sending new clients first, WebSocket clients get close 1001, streams end and the port closes.
     */
    async close({ drainDelayMs = 0, signal }: { drainDelayMs?: number; signal?: AbortSignal } = {}) {
      listening = false
      if (drainDelayMs > 0) await sleep(drainDelayMs, undefined, { signal }).catch(() => {})
      await gateway.endClients()
      await onePort.close()
      // The store closes last (onClose).
      await app.close()
    },
  }
}

export type StreamgateServer = Awaited<ReturnType<typeof createGateway>>
