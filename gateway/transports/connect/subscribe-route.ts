import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { Code, ConnectError } from '@connectrpc/connect'
import { compressionNegotiate } from '@connectrpc/connect/protocol'
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway } from '../../core/gateway.ts'
import { resumeFromToken } from '../../core/resume-token.ts'
import type { SubscriptionBudget } from '../../core/session.ts'
import { StreamService } from '../../gen/streamgate/v1/stream_pb.ts'
import { authenticateRequest, type Exchange } from './call-context.ts'
import { rejectionReason, toConnectError } from './errors.ts'
import { JoinedFrames } from './joined-frames.ts'
import { addressOf, jsonEnvelopes, protoEnvelopes } from './messages.ts'
import { SubscribeCall } from './subscribe-call.ts'
import { negotiate } from './subscribe-protocols.ts'
import { readSubscribeRequest } from './subscribe-request.ts'

const transport = 'connect'
const PATH = `/${StreamService.typeName}/${StreamService.method.subscribe.name}`
/** What connect-es's fastify plugin accepts; responses are not compressed, so every call shares its bytes. */
const REQUEST_COMPRESSION = [compressionGzip, compressionBrotli]

export interface SubscribeRouteOptions {
  /** Request messages larger than this are refused (RESOURCE_EXHAUSTED) from their envelope's header. */
  readMaxBytes: number
  slowConsumerGraceMs: number
}

const header = (headers: IncomingHttpHeaders, name: string): string | null => {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : (value ?? null)
}

/**
 * `streamgate.v1.StreamService/Subscribe` for gRPC, gRPC-Web and the Connect protocol, on both HTTP versions,
 * served on the HTTP response itself rather than through connect-es's generic handler (one message per
 * async iteration): the core's rounds go straight into the stream. connect-es serves every unary method.
 */
export function subscribeRoute(gateway: Gateway, options: SubscribeRouteOptions) {
  const { metrics } = gateway
  const calls = new Set<SubscribeCall>()
  let closing = false
  const joined = { proto: new JoinedFrames(), json: new JoinedFrames() }
  /** Subscriptions count per connection: an HTTP/2 session, whatever number of streams it opens. */
  const budgets = new WeakMap<object, SubscriptionBudget>()
  const budgetOf = ({ request }: Exchange) => {
    const owner = 'stream' in request ? request.stream.session : request.socket
    if (!owner) return undefined
    let budget = budgets.get(owner)
    if (!budget) budgets.set(owner, (budget = { used: 0 }))
    return budget
  }

  async function serve(request: FastifyRequest, reply: FastifyReply) {
    reply.hijack()
    const exchange: Exchange = { request: request.raw, response: reply.raw, log: request.log }
    const headers = reply.getHeaders() as OutgoingHttpHeaders
    // Before a call exists, the answers connect-es gives: 405 and 415, without a body.
    if (request.method !== 'POST') return void reply.raw.writeHead(405, headers).end()
    const negotiated = negotiate(header(request.headers, 'content-type') ?? '')
    if (!negotiated) return void reply.raw.writeHead(415, headers).end()
    const { protocol, binary } = negotiated

    const call = new SubscribeCall({
      exchange,
      protocol,
      binary,
      joined: binary ? joined.proto : joined.json,
      headers,
      slowConsumerGraceMs: options.slowConsumerGraceMs,
      onRelease: () => metrics.connections.dec({ transport }),
    })
    if (closing) return call.close('shutdown')
    calls.add(call)
    reply.raw.once('close', () => calls.delete(call))
    const timeout = protocol.parseTimeout(header(request.headers, protocol.headers.timeout))
    if (timeout.timeoutMs !== undefined) call.deadline(timeout.timeoutMs)
    try {
      // As in connect-es: authentication before the body is read, then the request's own errors.
      const caller = await authenticateRequest(gateway, request.raw.headers, request.raw.url ?? PATH, request.log)
      const compression = compressionNegotiate(
        REQUEST_COMPRESSION,
        header(request.headers, protocol.headers.encoding),
        header(request.headers, protocol.headers.acceptEncoding),
        protocol.headers.acceptEncoding,
      )
      if (compression.error) throw compression.error
      if (timeout.error) throw timeout.error
      const message = await readSubscribeRequest(request.raw, { binary, compression: compression.request, endFlag: protocol.endFlag, readMaxBytes: options.readMaxBytes })
      if (call.done) return
      const session = gateway.openSession({ caller, transport, format: binary ? protoEnvelopes : jsonEnvelopes, wire: call, budget: budgetOf(exchange) })
      call.attach(session)
      metrics.connections.inc({ transport })
      await session.subscribe('subscribe', addressOf(message), resumeFromToken(message.resumeToken))
      // The subscription is live (or the call ended): the client gets its headers without waiting for an event.
      call.start()
    } catch (error) {
      // A client that left while its request was read (or a call its deadline ended) needs no answer.
      if (call.done) return
      const failure = toConnectError(error)
      // connect-es's own refusals (an undecodable message is INTERNAL there) are the client's doing.
      if (failure.code === Code.Internal && !(error instanceof ConnectError)) request.log.error({ err: error }, 'subscribe failed')
      metrics.rejectedInputs.inc({ transport, reason: rejectionReason(failure) })
      call.end(failure)
    }
  }

  return {
    /** An encapsulated scope: its catch-all body parser leaves every request body to the call. */
    routes: async (app: FastifyInstance) => {
      app.removeAllContentTypeParsers()
      app.addContentTypeParser('*', (_request, _payload, done) => done(null))
      app.all(PATH, serve)
    },

    /** Ends every open call with UNAVAILABLE: clients come back and resume. */
    close() {
      closing = true
      for (const call of calls) call.close('shutdown')
    },
  }
}
