import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Http2ServerResponse } from 'node:http2'
import type { ServerResponse } from 'node:http'
import { GatewayError } from '../../model/errors.ts'
import type { Gateway } from '../../core/gateway.ts'
import { type LogPosition, parseResumeToken, resumeToken, UNKNOWN_SEQ } from '../../core/resume-token.ts'
import type { SessionSink } from '../../core/session.ts'
import { groupKey } from '../../model/group-key.ts'
import type { Address, LogRecord } from '../../model/records.ts'
import { handleRequestsAs } from '../http-requests.ts'
import { httpStatus } from '../http-status.ts'
import { errorFrame, recordFrame, syncFrame } from '../motia-frames.ts'
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

/** A single-group stream's message is the same bytes for every subscriber of that group. */
const messages = new WeakMap<LogRecord, Buffer>()
function singleGroupMessage(record: LogRecord): Buffer {
  let message = messages.get(record)
  if (!message) {
    message = Buffer.concat([Buffer.from(`id: ${resumeToken(record.epoch, record.seq)}\ndata: `), recordFrame(record), Buffer.from('\n\n')])
    messages.set(record, message)
  }
  return message
}

/** Node's HTTP/1.1 response, or its HTTP/2 compatibility response (which has the same writing API). */
type Raw = ServerResponse
const unsentBytes = (raw: Raw) => ((raw as unknown as Http2ServerResponse).stream ?? raw).writableLength

/**
 * Server-Sent Events: each message's `data:` is exactly the Motia frame the WebSocket sends for the same
 * change, and its `id:` the resume token. `Last-Event-ID` (or `?lastEventId=`) resumes through the core.
 */
export function sseTransport(gateway: Gateway, options: SseOptions) {
  const { metrics, logger, limits } = gateway
  // Bound once: label lookups would otherwise run for every frame of every subscriber.
  const framesDelivered = metrics.framesDelivered.labels(transport)
  const open = new Set<{ write(chunk: string | Buffer): void; end(): void }>()
  const heartbeat = setInterval(() => {
    for (const stream of open) stream.write(': heartbeat\n\n')
  }, options.heartbeatMs)
  heartbeat.unref()

  async function serve(request: FastifyRequest, reply: FastifyReply, addresses: Address[]) {
    const groups = [...new Set(addresses.map((a) => groupKey(a.streamName, a.groupId)))]
    const query = request.query as { lastEventId?: string }
    // An empty one is no token, as on every transport (an EventSource whose last event had no id sends it).
    const token = (request.headers['last-event-id'] as string | undefined) || query.lastEventId || undefined
    const positions = token === undefined ? undefined : parseResumeToken(token, groups.length)
    if (positions === null) logger.info({ token }, 'unusable resume token: starting from a fresh sync')

    // Where the client stands in each group's log, so every message's id resumes all of its subscriptions.
    const seqs = groups.map((_, i) => positions?.[i]?.seq ?? 0)
    let epoch = positions?.[0]?.epoch ?? ''
    // Positions only move forward within an epoch. When the store's epoch changes (a restart under a
    // shared store), every group's position belongs to the old log until that group's own sync arrives:
    // until then it resumes as unknown, which gives a reset sync.
    const advance = (key: string, seq: number, atEpoch: string) => {
      if (atEpoch !== epoch) {
        seqs.fill(UNKNOWN_SEQ)
        epoch = atEpoch
      }
      const i = groups.indexOf(key)
      seqs[i] = seqs[i] === UNKNOWN_SEQ ? seq : Math.max(seqs[i]!, seq)
    }
    const currentToken = () => resumeToken(epoch, ...seqs)

    const raw = reply.raw as Raw
    let started = false
    let refusal: GatewayError | undefined
    const pending: Array<string | Buffer> = []
    const stream = {
      write(chunk: string | Buffer) {
        if (!started) return void pending.push(chunk)
        if (raw.writableEnded || raw.destroyed) return
        raw.write(chunk)
        if (unsentBytes(raw) > limits.maxQueueBytes) {
          metrics.queueLimitCloses.inc({ transport })
          logger.warn({ unsent: unsentBytes(raw) }, 'sse outbound queue limit exceeded; closing')
          raw.destroy()
        }
      },
      end: () => raw.end(),
    }
    const sink: SessionSink = {
      record(record) {
        advance(groupKey(record.streamName, record.groupId), record.seq, record.epoch)
        framesDelivered.inc()
        if (groups.length === 1) return stream.write(singleGroupMessage(record))
        stream.write(Buffer.concat([Buffer.from(`id: ${currentToken()}\ndata: `), recordFrame(record), Buffer.from('\n\n')]))
      },
      sync(_id, address, snapshot, reset) {
        advance(groupKey(address.streamName, address.groupId), snapshot.seq, snapshot.epoch)
        framesDelivered.inc()
        stream.write(`id: ${currentToken()}\ndata: ${syncFrame(address, snapshot, reset)}\n\n`)
      },
      refused(_id, address, error) {
        metrics.rejectedInputs.inc({ transport, reason: error.code.toLowerCase() })
        if (started) stream.write(`data: ${errorFrame(address, error)}\n\n`)
        else refusal ??= error
      },
    }

    const session = gateway.openSession(request.caller, sink, transport)
    const positionOf = (a: Address): LogPosition | null | undefined =>
      positions === undefined || positions === null ? positions : positions[groups.indexOf(groupKey(a.streamName, a.groupId))]
    await Promise.all(addresses.map((address, i) => session.subscribe(String(i), address, positionOf(address))))
    if (refusal) {
      session.close()
      return reply.status(httpStatus[refusal.code]).send(refusal.toJSON())
    }

    reply.hijack()
    raw.writeHead(200, { ...reply.getHeaders(), ...HEADERS } as Record<string, string>)
    raw.write(`retry: ${options.retryMs + Math.floor(Math.random() * options.retryMs)}\n\n`)
    started = true
    for (const chunk of pending.splice(0)) stream.write(chunk)
    metrics.connections.inc({ transport })
    open.add(stream)
    const lifetime = options.maxLifetimeMs === undefined ? undefined : setTimeout(() => raw.end(), options.maxLifetimeMs * (1 + Math.random() / 4))
    raw.once('close', () => {
      clearTimeout(lifetime)
      open.delete(stream)
      session.close()
      metrics.connections.dec({ transport })
    })
  }

  return {
    routes: async (app: FastifyInstance) => {
      handleRequestsAs(app, gateway, transport)
      // A parameter given twice is refused (400) rather than guessed at.
      const lastEventId = { lastEventId: { type: 'string' } }
      const sse = { constraints: { eventStream: 'yes' }, schema: { querystring: { type: 'object', properties: lastEventId } } }
      app.get<{ Params: { streamName: string; groupId: string } }>('/streams/:streamName/:groupId', sse, (request, reply) =>
        serve(request, reply, [request.params]),
      )
      app.get<{ Params: { streamName: string; groupId: string; id: string } }>('/streams/:streamName/:groupId/:id', sse, (request, reply) =>
        serve(request, reply, [request.params]),
      )
      const events = { schema: { querystring: { type: 'object', properties: { ...lastEventId, subscribe: { type: 'array', items: { type: 'string' } } } } } }
      app.get<{ Querystring: { subscribe?: string[] } }>('/events', events, (request, reply) =>
        serve(request, reply, parseSubscriptionList(request.query.subscribe ?? [], limits.maxSubscriptionsPerConnection)),
      )
    },
    /** Ends every stream: clients reconnect (to another instance) and resume. */
    close() {
      clearInterval(heartbeat)
      for (const stream of open) stream.end()
    },
  }
}
