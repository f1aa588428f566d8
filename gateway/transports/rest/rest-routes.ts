import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../../model/errors.ts'
import type { Gateway } from '../../core/gateway.ts'
import { handleRequestsAs } from '../http-requests.ts'
import { etag, idempotencyKey, setConditions, writeConditions } from './conditional-headers.ts'

type GroupParams = { streamName: string; groupId: string }
type ItemParams = GroupParams & { id: string }

/**
 * JSON over HTTP: the paths of the contract (design.md). Every request is authenticated, and every read and
 * write authorised, exactly as a subscription is.
 */
export function restRoutes(gateway: Gateway) {
  return async function (app: FastifyInstance) {
    handleRequestsAs(app, gateway, 'rest')
    // Many HTTP clients send `Content-Type: application/json` on every request, a DELETE without a body
    // included: an empty body is no body. `__proto__` and `constructor` keys are kept as the plain own
    // properties JSON.parse makes of them, for the core to refuse exactly as it does on every transport
    // (fastify's own refusal would answer before the core, so REST and Connect would disagree on the code).
    const parseJson = app.getDefaultJsonParser('ignore', 'ignore')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
      body === '' ? done(null, undefined) : parseJson(request, body as string, done),
    )

    app.get('/streams', async () => ({ streams: gateway.listStreams().map((name) => ({ name })) }))

    app.get<{ Params: { streamName: string }; Querystring: { after?: string; limit?: string } }>('/streams/:streamName', async (request, reply) => {
      const { after, limit } = request.query
      if (limit !== undefined && !/^\d{1,4}$/.test(limit)) throw new GatewayError('INVALID_ARGUMENT', 'limit must be a whole number')
      const page = await gateway.listGroups(request.caller, request.params.streamName, { after, limit: limit === undefined ? undefined : Number(limit) })
      if (page.next !== undefined) {
        const next = new URLSearchParams({ after: page.next, ...(limit === undefined ? {} : { limit }) })
        reply.header('link', `</streams/${encodeURIComponent(request.params.streamName)}?${next}>; rel="next"`)
      }
      return page.groups
    })

    app.get<{ Params: GroupParams }>('/streams/:streamName/:groupId', (request) => gateway.list(request.caller, request.params))

    app.get<{ Params: ItemParams }>('/streams/:streamName/:groupId/:id', async (request, reply) => {
      const { item, version } = await gateway.get(request.caller, request.params)
      return reply.header('etag', etag(version)).send(item)
    })

    // Conditions, idempotency and expiry (design.md): If-None-Match: *, If-Match: "<version>", Idempotency-Key, ?ttl=.
    app.put<{ Params: ItemParams; Querystring: { ttl?: string } }>('/streams/:streamName/:groupId/:id', async (request, reply) => {
      const { item, created, record } = await gateway.set(request.caller, request.params, request.body, setConditions(request))
      return reply.status(created ? 201 : 200).header('etag', etag(record.seq)).send(item)
    })

    app.delete<{ Params: ItemParams }>('/streams/:streamName/:groupId/:id', (request) => gateway.delete(request.caller, request.params, writeConditions(request)))

    const sendEvent = async (request: FastifyRequest<{ Params: GroupParams & { id?: string } }>, reply: FastifyReply) => {
      const body = request.body as { type?: unknown; data?: unknown } | undefined
      if (typeof body !== 'object' || body === null || typeof body.type !== 'string') {
        throw new GatewayError('INVALID_ARGUMENT', 'body must be {"type": string, "data": any}')
      }
      const record = await gateway.send(request.caller, request.params, { type: body.type, data: body.data }, { idempotencyKey: idempotencyKey(request) })
      return reply.status(202).send({ timestamp: record.timestamp })
    }
    app.post('/streams/:streamName/:groupId/events', sendEvent)
    app.post('/streams/:streamName/:groupId/:id/events', sendEvent)
  }
}
