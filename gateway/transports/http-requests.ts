import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { type Caller, tokenFrom } from '../core/auth.ts'
import { GatewayError } from '../model/errors.ts'
import type { Gateway } from '../core/gateway.ts'
import type { Transport } from '../observability/metrics.ts'
import { httpStatus } from './http-status.ts'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
}

/** Fastify's own refusals, mapped onto the contract's codes. */
function asGatewayError(error: FastifyError): GatewayError {
  if (error instanceof GatewayError) return error
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('PAYLOAD_TOO_LARGE', 'request body is larger than the item size limit')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('INVALID_ARGUMENT', 'send the body as application/json')
    default:
      if (error.statusCode && error.statusCode < 500) return new GatewayError('INVALID_ARGUMENT', error.message)
      return new GatewayError('INTERNAL', 'internal error')
  }
}

/**
 * What every HTTP transport of the gateway does with a request: authenticate it (the same token rules as
 * the WebSocket) and answer failures as JSON `{code, message, details}` with the matching status.
 */
export function handleRequestsAs(app: FastifyInstance, gateway: Gateway, transport: Transport) {
  app.decorateRequest('caller', null as never)
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const failure = asGatewayError(error)
    if (failure.code === 'INTERNAL') request.log.error({ err: error }, 'request failed')
    gateway.metrics.rejectedInputs.inc({ transport, reason: failure.code.toLowerCase() })
    return reply.status(httpStatus[failure.code]).send(failure.toJSON())
  })
  app.addHook('preHandler', async (request) => {
    request.caller = await gateway.authenticate({ headers: request.headers, url: request.url, token: tokenFrom(request.headers, request.url) })
  })
}
