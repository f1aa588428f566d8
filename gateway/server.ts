import { setTimeout as sleep } from 'node:timers/promises'
import { cors as connectCors } from '@connectrpc/connect'
import cors from '@fastify/cors'
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import { pino, type Logger } from 'pino'
import { type Hooks, redactUrl } from './core/auth.ts'
import { Gateway } from './core/gateway.ts'
import { defaultLimits, type Limits } from './core/limits.ts'
import { StreamRegistry } from './core/registry.ts'
import type { StreamConfig } from './core/stream-config.ts'
import { streamsApi } from './core/streams-api.ts'
import { defaultHttpSettings, type HttpSettings } from './http/http-settings.ts'
import { OnePort, type RefusedConnection, type TlsOptions } from './http/one-port.ts'
import { inspectorRoutes } from './inspector/inspector-routes.ts'
import { createMetrics } from './observability/metrics.ts'
import { openApi } from './openapi/openapi.ts'
import { MemoryStore } from './store/memory-store.ts'
import type { RedisConfig } from './store/redis-store.ts'
import type { HistoryLimit, Store } from './store/store.ts'
import { clientErrorHandler, sendFailure, sendNotFound } from './transports/http-requests.ts'
import { opsRoutes } from './transports/ops-routes.ts'
import { restRoutes } from './transports/rest/rest-routes.ts'
import { eventStreamConstraint } from './transports/sse/event-stream-constraint.ts'
import { type SseOptions, sseTransport } from './transports/sse/sse-transport.ts'
import { type ConnectTransportOptions, connectTransport } from './transports/connect/connect-transport.ts'
import { websocketTransport } from './transports/websocket/websocket-transport.ts'
import { packageVersion } from './version.ts'

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

export interface ServerOptions {
  streams: StreamConfig[]
  hooks?: Hooks
  limits?: Partial<Limits>
  /** Timeouts and sizes of the shared port's HTTP/1.1 and HTTP/2 servers. */
  http?: Partial<HttpSettings>
  pingIntervalMs?: number
  sse?: Partial<SseOptions>
  connect?: Partial<ConnectTransportOptions>
  /** Origins allowed to call REST and SSE from a browser (CORS); none by default. */
  corsOrigins?: string[]
  /** With a certificate the port speaks HTTPS (HTTP/2 and HTTP/1.1 by ALPN) and wss://. */
  tls?: TlsOptions
  logger?: Logger
  /** Keep stream state in Redis, shared by every instance on it (gateway/store/redis-keys.ts); memory otherwise. */
  redis?: RedisConfig
  /** Serve the inspector page at /inspector (default true). */
  inspector?: boolean
  /** Keep stream state on disk in this process (gateway/store/durable-layout.ts); memory otherwise. */
  durable?: { dataDir: string; fsync?: boolean }
  /** How long an Idempotency-Key's answer is remembered, in seconds (default 86400). */
  idempotencyTtlSeconds?: number
}

/** ioredis and lmdb are loaded only by a gateway that uses them: they are a good part of the startup time. */
async function openStore(options: ServerOptions, historyLimit: (streamName: string) => HistoryLimit, logger: Logger): Promise<Store> {
  if (options.redis && options.durable) throw new Error('choose one store: redis or durable, not both')
  if (options.redis) return (await import('./store/redis-store.ts')).RedisStore.connect({ ...options.redis, historyLimit, logger })
  if (options.durable) return (await import('./store/durable-store.ts')).DurableStore.open({ ...options.durable, historyLimit, logger })
  return new MemoryStore(historyLimit)
}

/**
 * One gateway on one port: REST, WebSocket (any path) and operations routes over the same core. Embedders
 * get the fastify app to add their own routes and Motia's `streams` API to write from them.
 */
export async function createGateway(options: ServerOptions) {
  const logger = options.logger ?? pino({ level: 'info' })
  const limits = { ...defaultLimits, ...options.limits }
  const metrics = createMetrics()
  const registry = new StreamRegistry(options.streams)
  const historyLimit = (streamName: string) => registry.get(streamName).history
  const store = await openStore(options, historyLimit, logger)
  const gateway = new Gateway({ registry, store, hooks: options.hooks ?? {}, limits, metrics, logger, idempotencyTtlSeconds: options.idempotencyTtlSeconds })
  const websocket = websocketTransport(gateway, { pingIntervalMs: options.pingIntervalMs ?? 30_000, allowedOrigins: options.corsOrigins ?? [] })
  const sse = sseTransport(gateway, { heartbeatMs: 15_000, retryMs: 1000, ...options.sse })
  const connect = connectTransport(gateway, options.connect)
  let ready = false

  // One warning per burst, not one per connection: a flood of refusals must not become a flood of logs.
  let lastRefusalLog = 0
  const refused = (reason: RefusedConnection, error?: Error) => {
    metrics.connectionsRefused.inc({ reason })
    if (Date.now() - lastRefusalLog < 10_000) return
    lastRefusalLog = Date.now()
    logger.warn({ reason, err: error }, 'refusing new connections (see streamgate_connections_refused_total)')
  }
  const http = { ...defaultHttpSettings, ...options.http }
  let port: OnePort | undefined
  const app = Fastify({
    loggerInstance: logger.child({}, { serializers: { req: requestSerializer } }) as Logger,
    bodyLimit: limits.maxItemBytes,
    logController: new DebugRequestLogs(),
    // A path parameter can be no longer than the request line, which the header limit bounds: every name
    // reaches the core, which refuses one that is too long the way every transport does.
    routerOptions: { constraints: { eventStream: eventStreamConstraint }, maxParamLength: http.maxHeaderBytes },
    frameworkErrors: (error, request, reply) => sendFailure(gateway, 'rest', error, request, reply),
    clientErrorHandler: clientErrorHandler(gateway),
    serverFactory: (handler) => {
      port = new OnePort(handler, {
        settings: http,
        maxConcurrentStreams: limits.maxSubscriptionsPerConnection,
        tls: options.tls,
        refused,
      })
      return port.http1
    },
  })
  const onePort = port!
  // HTTP/2 keepalive for gRPC and Connect streams, on the WebSocket ping interval.
  onePort.pingSessions(options.pingIntervalMs ?? 30_000)
  // Requests outside every transport's routes get the contract's error shape too.
  app.setErrorHandler((error: FastifyError, request, reply) => sendFailure(gateway, 'rest', error, request, reply))
  app.setNotFoundHandler((request, reply) => sendNotFound(gateway, request, reply))
  await app.register(openApi, { streams: options.streams, version: packageVersion() })
  await app.register(opsRoutes(metrics, () => ready && store.ready()))
  if (options.corsOrigins?.length) {
    // Connect and gRPC-Web from a browser need their own request and response headers allowed.
    await app.register(cors, {
      origin: options.corsOrigins,
      methods: ['GET', 'PUT', 'DELETE', 'POST'],
      allowedHeaders: [...connectCors.allowedHeaders, 'Authorization', 'Last-Event-ID'],
      exposedHeaders: [...connectCors.exposedHeaders, 'streamgate-error-code'],
    })
  }
  await app.register(restRoutes(gateway))
  await app.register(sse.routes)
  await app.register(connect.routes)
  if (options.inspector !== false) await app.register(await inspectorRoutes(gateway, { auth: Boolean(options.hooks?.authenticate) }))
  app.server.on('upgrade', (request, socket, head) => void websocket.handleUpgrade(request, socket, head))

  return {
    app,
    gateway,
    streams: streamsApi(gateway),
    metrics,
    async listen(portNumber: number, host: string): Promise<string> {
      await app.ready()
      const bound = await onePort.listen(portNumber, host)
      ready = true
      const hostname = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
      return `${options.tls ? 'https' : 'http'}://${hostname}:${bound.port}`
    },
    /**
     * `/readyz` turns 503 at once; after `drainDelayMs` (cut short by `signal`), so that load balancers stop
     * sending new clients first, WebSocket clients get close 1001, streams end and the port closes.
     */
    async close({ drainDelayMs = 0, signal }: { drainDelayMs?: number; signal?: AbortSignal } = {}) {
      ready = false
      if (drainDelayMs > 0) await sleep(drainDelayMs, undefined, { signal }).catch(() => {})
      sse.close()
      await connect.close()
      await websocket.close()
      await onePort.close()
      await app.close()
      await gateway.close()
      await store.close()
    },
  }
}

export type StreamgateServer = Awaited<ReturnType<typeof createGateway>>
