import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { Gateway } from '../../core/gateway.ts'
import type { Wire } from '../../core/wire.ts'
import type { GatewayError } from '../../model/errors.ts'
import { groupKey } from '../../model/group-key.ts'
import type { Address } from '../../model/records.ts'
import { handleRequestsAs } from '../http-requests.ts'
import { httpStatus } from '../http-status.ts'
import { writeRound } from '../write-round.ts'
import { errorFrame } from '../motia-frames.ts'
import { dataMessage, sseFormat, sseMultiplexedFormat } from './sse-format.ts'
import { parseSubscriptionList } from './subscription-list.ts'

export interface SseOptions {
  /** Comment lines on idle streams, so proxies that cut idle connections at 60 s keep them. */
  heartbeatMs: number
  /** The reconnect delay sent as `retry:`; each stream gets it plus up to as much again of jitter. */
  retryMs: number
  /** Streams are ended after this long (plus jitter); clients reconnect and resume. Unlimited if unset. */
  maxLifetimeMs?: number
}

const transport = 'sse'
const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

/** Node's HTTP/1.1 response, or its HTTP/2 compatibility response (which has the same writing API). */
type Raw = ServerResponse

/**
 * Server-Sent Events: each message's `data:` is exactly the Motia frame the WebSocket sends for the same
 * change, and its `id:` the resume token. `Last-Event-ID` (or `?lastEventId=`) resumes through the core.
 */
export function sseTransport(gateway: Gateway, options: SseOptions) {
  const { metrics, limits } = gateway
  const open = new Set<Raw>()
  const heartbeat = setInterval(() => {
    for (const raw of open) raw.write(': heartbeat\n\n')
  }, options.heartbeatMs)
  heartbeat.unref()

  async function serve(request: FastifyRequest, reply: FastifyReply, addresses: Address[]) {
    const query = request.query as { lastEventId?: string }
    // An empty one is no token, as on every transport (an EventSource whose last event had no id sends it);
    // a repeated one is refused by the route's schema.
    const token = (request.headers['last-event-id'] as string | undefined) || query.lastEventId || undefined

    const raw = reply.raw as Raw
    // Until the subscriptions are set up the answer may still be an error status: frames wait.
    let pending: Buffer[] | undefined = []
    let refusal: GatewayError | undefined
    const write = (frames: Buffer[]) => {
      if (pending) {
        pending.push(...frames)
        return true
      }
      if (raw.writableEnded || raw.destroyed) return true
      return writeRound(raw, frames)
    }
    const wire: Wire = {
      write,
      refused(_id, address, error) {
        if (pending) refusal ??= error
        else write([dataMessage(errorFrame(address, error))])
      },
      close: (reason) => (reason === 'shutdown' ? raw.end() : raw.destroy()),
    }
    const groups = new Set(addresses.map((a) => groupKey(a.streamName, a.groupId))).size
    const session = gateway.openSession({ caller: request.caller, transport, format: groups > 1 ? sseMultiplexedFormat : sseFormat, wire })
    // The client may leave while the subscriptions are set up: the session leaves with it.
    raw.once('close', () => session.close())
    raw.on('drain', () => session.drained())
    await session.subscribeAll(addresses, token)
    if (raw.destroyed) return reply.hijack()
    if (refusal) {
      session.close()
      return reply.status(httpStatus[refusal.code]).send(refusal.toJSON())
    }

    reply.hijack()
    raw.writeHead(200, { ...reply.getHeaders(), ...HEADERS } as Record<string, string>)
    raw.write(`retry: ${options.retryMs + Math.floor(Math.random() * options.retryMs)}\n\n`)
    const waiting = pending
    pending = undefined
    write(waiting)
    metrics.connections.inc({ transport })
    open.add(raw)
    const lifetime = options.maxLifetimeMs === undefined ? undefined : setTimeout(() => raw.end(), options.maxLifetimeMs * (1 + Math.random() / 4))
    raw.once('close', () => {
      clearTimeout(lifetime)
      open.delete(raw)
      metrics.connections.dec({ transport })
    })
  }

  return {
    routes: async (app: FastifyInstance) => {
      handleRequestsAs(app, gateway, transport)
      // A parameter given twice is refused (400) rather than guessed at.
      const lastEventId = { lastEventId: { type: 'string', description: 'resume after this token (or the `Last-Event-ID` header)' } }
      const sse = { constraints: { eventStream: 'yes' }, schema: { querystring: { type: 'object', properties: lastEventId } } }
      app.get<{ Params: { streamName: string; groupId: string } }>('/streams/:streamName/:groupId', sse, (request, reply) =>
        serve(request, reply, [request.params]),
      )
      app.get<{ Params: { streamName: string; groupId: string; id: string } }>('/streams/:streamName/:groupId/:id', sse, (request, reply) =>
        serve(request, reply, [request.params]),
      )
      const subscribe = { type: 'array', items: { type: 'string' }, description: '`<stream>/<group>[/<id>]`, segments percent-encoded; repeatable' }
      const events = { schema: { querystring: { type: 'object', properties: { ...lastEventId, subscribe } } } }
      app.get<{ Querystring: { subscribe?: string[] } }>('/events', events, (request, reply) =>
        serve(request, reply, parseSubscriptionList(request.query.subscribe ?? [], limits.maxSubscriptionsPerConnection)),
      )
    },
    /** Ends every stream: clients reconnect (to another instance) and resume. */
    close() {
      clearInterval(heartbeat)
      for (const raw of open) raw.end()
    },
  }
}
