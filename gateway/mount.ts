import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { cors as connectCors } from '@connectrpc/connect'
import cors from '@fastify/cors'
import type { FastifyError, FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Hooks } from './core/auth.ts'
import { Gateway } from './core/gateway.ts'
import { defaultLimits, type Limits } from './core/limits.ts'
import { StreamRegistry } from './core/registry.ts'
import type { StreamConfig } from './core/stream-config.ts'
import { streamsApi } from './core/streams-api.ts'
import { inspectorRoutes } from './inspector/inspector-routes.ts'
import { createMetrics } from './observability/metrics.ts'
import { openApi } from './openapi/openapi.ts'
import { MemoryStore } from './store/memory-store.ts'
import type { RedisConfig } from './store/redis-store.ts'
import type { HistoryLimit, Store } from './store/store.ts'
import { sendFailure } from './transports/http-requests.ts'
import { opsRoutes } from './transports/ops-routes.ts'
import { echoRequestId } from './transports/request-id.ts'
import { restRoutes } from './transports/rest/rest-routes.ts'
import { eventStreamConstraint } from './transports/sse/event-stream-constraint.ts'
import { type SseOptions, sseTransport } from './transports/sse/sse-transport.ts'
import { type ConnectTransportOptions, connectTransport } from './transports/connect/connect-transport.ts'
import { websocketTransport } from './transports/websocket/websocket-transport.ts'
import { packageVersion } from './version.ts'

/** What the gateway itself takes, whoever owns the HTTP server it is served on. */
export interface MountOptions {
  streams: StreamConfig[]
  hooks?: Hooks
  limits?: Partial<Limits>
  pingIntervalMs?: number
  sse?: Partial<SseOptions>
  connect?: Partial<ConnectTransportOptions>
  /** Origins allowed to call REST and SSE from a browser (CORS); none by default. */
  corsOrigins?: string[]
  /** The gateway's log; by default the fastify app's. */
  logger?: Logger
  /** Keep stream state in Redis, shared by every instance on it (gateway/store/redis-keys.ts); memory otherwise. */
  redis?: RedisConfig
  /** Serve the inspector page at /inspector (default: unless under a prefix; its page calls the API at the root). */
  inspector?: boolean
  /** Keep stream state on disk in this process (gateway/store/durable-layout.ts); memory otherwise. */
  durable?: { dataDir: string; fsync?: boolean }
  /** How long an Idempotency-Key's answer is remembered, in seconds (default 86400). */
  idempotencyTtlSeconds?: number
}

/** ioredis and lmdb are loaded only by a gateway that uses them: they are a good part of the startup time. */
async function openStore(options: MountOptions, historyLimit: (streamName: string) => HistoryLimit, logger: Logger): Promise<Store> {
  if (options.redis && options.durable) throw new Error('choose one store: redis or durable, not both')
  if (options.redis) return (await import('./store/redis-store.ts')).RedisStore.connect({ ...options.redis, historyLimit, logger })
  if (options.durable) return (await import('./store/durable-store.ts')).DurableStore.open({ ...options.durable, historyLimit, logger })
  return new MemoryStore(historyLimit)
}

/** A WebSocket upgrade for the gateway: any path at the root, else the prefix and what lies below it. */
const upgradeMatches = (prefix: string, url = '/') =>
  prefix === '' || url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)

/**
 * The one assembly of the gateway on a fastify instance, shared by `createGateway` (its own server, at the
 * root) and `streamgatePlugin` (a host app's server, under its prefix): opens the store, registers every
 * transport's routes in `app`'s scope, takes WebSocket upgrades on `app.server`. On `app.close()` clients
 * are told to come back (preClose), then the store closes (onClose).
 */
export async function mountGateway(app: FastifyInstance, options: MountOptions, serving: () => boolean = () => true) {
  const logger = options.logger ?? (app.log as Logger)
  const limits = { ...defaultLimits, ...options.limits }
  const metrics = createMetrics()
  const registry = new StreamRegistry(options.streams)
  const historyLimit = (streamName: string) => registry.get(streamName).history
  const store = await openStore(options, historyLimit, logger)
  const gateway = new Gateway({ registry, store, hooks: options.hooks ?? {}, limits, metrics, logger, idempotencyTtlSeconds: options.idempotencyTtlSeconds })
  const websocket = websocketTransport(gateway, { pingIntervalMs: options.pingIntervalMs ?? 30_000, allowedOrigins: options.corsOrigins ?? [] })
  const sse = sseTransport(gateway, { heartbeatMs: 15_000, retryMs: 1000, ...options.sse })
  const connect = connectTransport(gateway, options.connect)
  let closing = false
  let ended: Promise<void> | undefined
  /** WebSocket clients get close 1001, SSE streams end, Connect/gRPC streams end with UNAVAILABLE. */
  const endClients = () => {
    closing = true
    ended ??= (async () => {
      sse.close()
      await connect.close()
      await websocket.close()
    })()
    return ended
  }

  // SSE shares its paths with REST, told apart by `Accept`; a host app may have added the strategy already.
  if (!app.hasConstraintStrategy(eventStreamConstraint.name)) app.addConstraintStrategy(eventStreamConstraint)
  // The item size limit bounds every request body of the gateway's routes, not the host's.
  app.addHook('onRoute', (route) => void (route.bodyLimit ??= limits.maxItemBytes))
  app.addHook('onRequest', echoRequestId)
  app.setErrorHandler((error: FastifyError, request, reply) => sendFailure(gateway, 'rest', error, request, reply))
  // A host app that documents itself with @fastify/swagger documents the gateway's routes too.
  if (!app.hasDecorator('swagger')) await app.register(openApi, { streams: options.streams, version: packageVersion() })
  await app.register(opsRoutes(metrics, () => !closing && serving() && store.ready()))
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
  if (options.inspector ?? !app.prefix) {
    if (app.prefix) throw new Error(`the inspector needs the gateway at the root, not under "${app.prefix}": pass inspector: false`)
    await app.register(await inspectorRoutes(gateway, { auth: Boolean(options.hooks?.authenticate) }))
  }

  const prefix = app.prefix
  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!upgradeMatches(prefix, request.url)) return
    // A client that comes back while the server closes would keep it open: it is sent away.
    if (closing) return void socket.destroy()
    void websocket.handleUpgrade(request, socket, head)
  }
  // An HTTP/2 server (fastify's `http2: true`) has no upgrades: WebSocket then needs HTTP/1.1 elsewhere.
  app.server.on('upgrade', upgrade)
  app.addHook('preClose', endClients)
  app.addHook('onClose', async () => {
    app.server.off('upgrade', upgrade)
    // No expiry sweep runs into a closed store.
    await gateway.close()
    await store.close()
  })

  return { gateway, streams: streamsApi(gateway), metrics, endClients }
}

export type MountedGateway = Awaited<ReturnType<typeof mountGateway>>
