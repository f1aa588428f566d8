import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { type ErrorCode, GatewayError } from '../model/errors.ts'
import { httpStatus } from '../transports/http-status.ts'

const codeOfStatus = new Map(Object.entries(httpStatus).map(([code, status]) => [status, code as ErrorCode]))

/** A refusal by fastify itself (bad URL, unparsable body, ...) in the gateway's `{code, message, details}`. */
function asReply(error: FastifyError): { status: number; body: ReturnType<GatewayError['toJSON']> } {
  if (error instanceof GatewayError) return { status: httpStatus[error.code], body: error.toJSON() }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
  const code = codeOfStatus.get(status) ?? (status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL')
  return { status, body: new GatewayError(code, status < 500 ? error.message : 'internal error').toJSON() }
}

/**
 * Outside the transports' own handlers (unknown routes, malformed URLs, operations routes), fastify's answers
 * take the same shape as every other error of the gateway.
 */
export const gatewayErrorReplies = fp(async (app) => {
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    reply.status(404).send(new GatewayError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`).toJSON()),
  )
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = asReply(error)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    return reply.status(status).send(body)
  })
}, { name: 'streamgate-error-replies' })

/** For fastify's `frameworkErrors` option: errors raised before a route is found (a malformed URL). */
export function frameworkErrorReply(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = asReply(error)
  return reply.status(status).send(body)
}
