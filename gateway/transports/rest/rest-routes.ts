import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { type Caller, tokenFrom } from '../../core/auth.ts'
import { GatewayError } from '../../core/errors.ts'
import type { Gateway } from '../../core/gateway.ts'
import { httpStatus } from '../http-status.ts'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
}

type GroupParams = { streamName: string; groupId: string }
type ItemParams = GroupParams & { id: string }

const transport = 'rest'

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
 * JSON over HTTP: the paths of the contract (design.md). Every request is authenticated, and every read and
 * write authorised, exactly as a subscription is.
 */
export function restRoutes(gateway: Gateway) {
  return async function (app: FastifyInstance) {
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

    app.get('/streams', async () => ({ streams: gateway.listStreams().map((name) => ({ name })) }))

    app.get<{ Params: GroupParams }>('/streams/:streamName/:groupId', (request) => gateway.list(request.caller, request.params))

    app.get<{ Params: ItemParams }>('/streams/:streamName/:groupId/:id', (request) => gateway.get(request.caller, request.params))

    app.put<{ Params: ItemParams }>('/streams/:streamName/:groupId/:id', async (request, reply) => {
      const { item, created } = await gateway.set(request.caller, request.params, request.body)
      return reply.status(created ? 201 : 200).send(item)
    })

    app.delete<{ Params: ItemParams }>('/streams/:streamName/:groupId/:id', (request) => gateway.delete(request.caller, request.params))

    const sendEvent = async (request: FastifyRequest<{ Params: GroupParams & { id?: string } }>, reply: FastifyReply) => {
      const body = request.body as { type?: unknown; data?: unknown } | undefined
      if (typeof body !== 'object' || body === null || typeof body.type !== 'string') {
        throw new GatewayError('INVALID_ARGUMENT', 'body must be {"type": string, "data": any}')
      }
      const record = await gateway.send(request.caller, request.params, { type: body.type, data: body.data })
      return reply.status(202).send({ timestamp: record.timestamp })
    }
    app.post('/streams/:streamName/:groupId/events', sendEvent)
    app.post('/streams/:streamName/:groupId/:id/events', sendEvent)
  }
}
