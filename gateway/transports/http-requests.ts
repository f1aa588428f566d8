import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { type Caller, tokenFrom } from '../core/auth.ts'
import { GatewayError } from '../model/errors.ts'
import type { Gateway } from '../core/gateway.ts'
import type { Transport } from '../observability/metrics.ts'
import { statusOf } from './http-status.ts'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
}

/**
 * Fastify's own refusals, mapped onto the contract's codes. Their messages may quote the request target
 * (and with it a `?authToken=`), so only messages that never do are passed on.
 */
function asGatewayError(error: FastifyError): GatewayError {
  if (error instanceof GatewayError) return error
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('PAYLOAD_TOO_LARGE', 'request body is larger than the item size limit')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('INVALID_ARGUMENT', 'send the body as application/json')
    case 'FST_ERR_BAD_URL':
      return new GatewayError('INVALID_ARGUMENT', 'the request path is not percent-encoded correctly')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new GatewayError('INVALID_ARGUMENT', 'a name in the request path is too long')
    case 'FST_ERR_VALIDATION':
      // Schema messages name the parameter, never its value.
      return new GatewayError('INVALID_ARGUMENT', error.message)
    default:
      if (error.statusCode && error.statusCode < 500) return new GatewayError('INVALID_ARGUMENT', error.message)
      return new GatewayError('INTERNAL', 'internal error')
  }
}

/** Answers a failed request as JSON `{code, message, details}` with the matching status, and counts it. */
export function sendFailure(gateway: Gateway, transport: Transport, error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const failure = asGatewayError(error)
  if (failure.code === 'INTERNAL') request.log.error({ err: error }, 'request failed')
  gateway.metrics.rejectedInputs.inc({ transport, reason: failure.code.toLowerCase() })
  return reply.status(statusOf(failure)).send(failure.toJSON())
}

/**
 * What every HTTP transport of the gateway does with a request: authenticate it (the same token rules as
 * the WebSocket) and answer failures as JSON `{code, message, details}` with the matching status.
 */
export function handleRequestsAs(app: FastifyInstance, gateway: Gateway, transport: Transport) {
  app.decorateRequest('caller', null as never)
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => sendFailure(gateway, transport, error, request, reply))
  app.addHook('preHandler', async (request) => {
    request.caller = await gateway.authenticate({ headers: request.headers, url: request.url, token: tokenFrom(request.headers, request.url) }, { transport, log: request.log })
  })
}

/**
 * A request no route took: a 404 in the contract's shape, which names the method and path but never the
 * query (it may carry a token). Nothing is logged above debug.
 */
export function sendNotFound(gateway: Gateway, request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?', 1)[0]
  gateway.metrics.rejectedInputs.inc({ transport: 'rest', reason: 'not_found' })
  return reply.status(404).send(new GatewayError('NOT_FOUND', `no route for ${request.method} ${path}`).toJSON())
}

/** What Node's HTTP/1.1 parser refused before any route ran, with the status Node itself would answer. */
const CLIENT_ERRORS: Record<string, { status: string; code: GatewayError['code']; reason: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: '408 Request Timeout', code: 'INVALID_ARGUMENT', reason: 'request_timeout', message: 'the request did not arrive in time' },
  HPE_HEADER_OVERFLOW: { status: '431 Request Header Fields Too Large', code: 'PAYLOAD_TOO_LARGE', reason: 'headers_too_large', message: 'the request line and headers are larger than the limit' },
}
const MALFORMED = { status: '400 Bad Request', code: 'INVALID_ARGUMENT' as const, reason: 'malformed_request', message: 'the request is not valid HTTP/1.1' }

/**
 * Fastify's clientErrorHandler: a request Node's parser refused (malformed, headers too large, too slow) is
 * answered in the contract's shape before the connection closes.
 */
export function clientErrorHandler(gateway: Gateway) {
  return (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const refusal = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED
    gateway.metrics.rejectedInputs.inc({ transport: 'rest', reason: refusal.reason })
    const body = JSON.stringify(new GatewayError(refusal.code, refusal.message).toJSON())
    if (socket.writable) socket.write(`HTTP/1.1 ${refusal.status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    socket.destroy()
  }
}
