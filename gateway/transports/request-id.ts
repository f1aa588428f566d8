import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const REQUEST_ID_HEADER = 'x-request-id'

/** Visible ASCII only, so that an id can neither break a log line nor a response header. */
const SANE = /^[\x21-\x7e]{1,128}$/

/**
 * The id of a request or connection in logs and in the `x-request-id` response header: the caller's own
 * (a proxy's, say) when it is a sane token of at most 128 visible characters, so that one id follows the
 * request through every hop; a new one otherwise.
 */
export function requestId(headers: IncomingHttpHeaders): string {
  const offered = headers[REQUEST_ID_HEADER]
  return typeof offered === 'string' && SANE.test(offered) ? offered : randomUUID()
}

/** Fastify's `genReqId`. */
export const genReqId = (request: IncomingMessage) => requestId(request.headers)

/**
 * An onRequest hook: every answer names its request, hijacked ones too (SSE and Connect write their heads
 * from the reply's). A host app, or an outer scope, that already set it keeps its own.
 */
export function echoRequestId(request: FastifyRequest, reply: FastifyReply, done: () => void) {
  if (!reply.hasHeader(REQUEST_ID_HEADER)) reply.header(REQUEST_ID_HEADER, request.id)
  done()
}
