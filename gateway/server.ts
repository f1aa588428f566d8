import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import { pino, type Logger } from 'pino'
import type { Hooks } from './core/auth.ts'
import { Gateway } from './core/gateway.ts'
import { defaultLimits, type Limits } from './core/limits.ts'
import { StreamRegistry } from './core/registry.ts'
import type { StreamConfig } from './core/stream-config.ts'
import { streamsApi } from './core/streams-api.ts'
import { createMetrics } from './observability/metrics.ts'
import { MemoryStore } from './store/memory-store.ts'
import { opsRoutes } from './transports/ops-routes.ts'
import { restRoutes } from './transports/rest/rest-routes.ts'
import { websocketTransport } from './transports/websocket/websocket-transport.ts'

/** One line per request is too much at info level for a gateway; it stays available at debug. */
class DebugRequestLogs extends LogController {
  override incomingRequest(request: FastifyRequest) {
    request.log.debug({ req: request }, 'incoming request')
  }
  override requestCompleted(_error: unknown, request: FastifyRequest, reply: FastifyReply) {
    request.log.debug({ statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'request completed')
  }
}

export interface ServerOptions {
  streams: StreamConfig[]
  hooks?: Hooks
  limits?: Partial<Limits>
  /** Events kept per group for resume. */
  historyLimit?: number
  pingIntervalMs?: number
  logger?: Logger
}

/**
 * One gateway on one port: REST, WebSocket (any path) and operations routes over the same core. Embedders
 * get the fastify app to add their own routes and Motia's `streams` API to write from them.
 */
export async function createServer(options: ServerOptions) {
  const logger = options.logger ?? pino({ level: 'info' })
  const limits = { ...defaultLimits, ...options.limits }
  const metrics = createMetrics()
  const store = new MemoryStore(options.historyLimit ?? 1000)
  const gateway = new Gateway({ registry: new StreamRegistry(options.streams), store, hooks: options.hooks ?? {}, limits, metrics, logger })
  const websocket = websocketTransport(gateway, { pingIntervalMs: options.pingIntervalMs ?? 30_000 })
  let ready = false

  const app = Fastify({ loggerInstance: logger, bodyLimit: limits.maxItemBytes, logController: new DebugRequestLogs() })
  await app.register(opsRoutes(metrics, () => ready))
  await app.register(restRoutes(gateway))
  app.server.on('upgrade', (request, socket, head) => void websocket.handleUpgrade(request, socket, head))

  return {
    app,
    gateway,
    streams: streamsApi(gateway),
    metrics,
    async listen(port: number, host: string): Promise<string> {
      await app.listen({ port, host })
      ready = true
      const address = app.server.address()
      const bound = typeof address === 'object' && address ? address : { address: host, port, family: 'IPv4' }
      const hostname = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
      return `http://${hostname}:${bound.port}`
    },
    /** WebSocket clients get close 1001, then the port closes. */
    async close() {
      ready = false
      await websocket.close()
      await app.close()
      await store.close()
    },
  }
}

export type StreamgateServer = Awaited<ReturnType<typeof createServer>>
