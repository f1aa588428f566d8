import { setMaxListeners } from 'node:events'
import { Code, ConnectError, createContextValues } from '@connectrpc/connect'
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify'
import type { FastifyInstance } from 'fastify'
import { disconnectMessage } from '../../core/disconnect.ts'
import type { Gateway } from '../../core/gateway.ts'
import { StreamService } from '../../gen/streamgate/v1/stream_pb.ts'
import { type Exchange, exchangeKey, whenWritten } from './call-context.ts'
import { reflectionRoutes } from './reflection-service.ts'
import { streamServiceRoutes } from './stream-service.ts'
import { subscribeRoute } from './subscribe-route.ts'

export interface ConnectTransportOptions {
  /** After its queue limit, how long a subscriber may still read up to its RESOURCE_EXHAUSTED end. */
  slowConsumerGraceMs: number
  /** How long `close()` waits for open calls to write their UNAVAILABLE end. */
  shutdownGraceMs: number
}

/**
 * StreamService over the Connect protocol (HTTP/1.1 and HTTP/2), gRPC (HTTP/2, cleartext or TLS) and
 * gRPC-Web, from one implementation on the core, plus gRPC server reflection. Fastify routes each
 * procedure's path on both HTTP versions of the gateway's port.
 */
export function connectTransport(gateway: Gateway, options: Partial<ConnectTransportOptions> = {}) {
  const { slowConsumerGraceMs = 1000, shutdownGraceMs = 2000 } = options
  const { limits } = gateway
  // Requests larger than the largest WebSocket frame are refused (RESOURCE_EXHAUSTED) before they are parsed;
  // below that, the core's item limit decides.
  const readMaxBytes = limits.maxFrameBytes
  const subscribe = subscribeRoute(gateway, { readMaxBytes, slowConsumerGraceMs })
  const shutdown = new AbortController()
  // Every open call listens on it (connect-es links each call's signal to it): one listener per call, not a
  // leak, so Node's warning past 10 listeners would only alarm whoever reads the log.
  setMaxListeners(0, shutdown.signal)
  const exchanges = new WeakMap<object, Exchange>()
  /** Calls whose response is still being written, so shutdown can wait for their UNAVAILABLE end. */
  const open = new Map<Exchange, Promise<void>>()

  return {
    routes: async (app: FastifyInstance) => {
      app.addHook('onRequest', async (request, reply) => {
        const exchange: Exchange = { request: request.raw, response: reply.raw, log: request.log }
        exchanges.set(request.raw, exchange)
        open.set(exchange, new Promise<void>((resolve) => whenWritten(exchange, resolve)).then(() => void open.delete(exchange)))
      })
      await app.register(subscribe.routes)
      await app.register(fastifyConnectPlugin, {
        routes(router) {
          streamServiceRoutes(router, gateway)
          reflectionRoutes(router, [StreamService])
        },
        readMaxBytes,
        shutdownSignal: shutdown.signal,
        contextValues: (request) => createContextValues().set(exchangeKey, exchanges.get(request.raw)),
      })
    },

    /** Ends every open call with UNAVAILABLE (clients reconnect and resume) and waits for them to finish. */
    async close() {
      subscribe.close()
      shutdown.abort(new ConnectError(disconnectMessage.shutdown, Code.Unavailable))
      if (open.size === 0) return
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(open.values()),
        new Promise((resolve) => (timer = setTimeout(resolve, shutdownGraceMs))),
      ])
      clearTimeout(timer)
    },
  }
}
