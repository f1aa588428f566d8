import type { FastifySchema } from 'fastify'

/**
 * The JSON schemas of the HTTP API's routes, by method and path, as the transports declare them
 * (gateway/transports/rest, sse, ops-routes). They document; the core validates every input (the same rules
 * for every transport), so these schemas change nothing a request gets.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } })
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } })
const eventStream = { 'text/event-stream': { schema: { type: 'string', description: "Server-Sent Events: each `data:` is Motia's frame JSON, each `id:` a resume token" } } }

const name = (description: string) => ({ type: 'string', minLength: 1, description })
const group = { type: 'object', required: ['streamName', 'groupId'], properties: { streamName: name('the stream'), groupId: name('the group') } }
const item = { ...group, required: ['streamName', 'groupId', 'id'], properties: { ...group.properties, id: name("the item's id") } }
const eventBody = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', description: 'the custom event type' }, data: { description: 'any JSON value' } },
}
const resume = {
  type: 'object',
  properties: { lastEventId: { type: 'string', description: 'with `Accept: text/event-stream`: resume after this token (or the `Last-Event-ID` header)' } },
}
const refusals = {
  401: error('UNAUTHENTICATED: `authenticate` refused the token'),
  403: error("PERMISSION_DENIED: the stream's `canAccess` refused"),
  404: error('NOT_FOUND: no such stream (or item)'),
}
const idempotencyKey = {
  type: 'string',
  description: 'a retry with the same key and the same request (within --idempotency-ttl) gets the first answer and writes nothing; the same key with another request is 422',
}
const ifMatch = { type: 'string', description: 'write only when the item is at this version: its ETag, such as `"12"` (else 412)' }
const writeHeaders = { type: 'object', properties: { 'if-match': ifMatch, 'idempotency-key': idempotencyKey } }
const conditionRefusals = {
  412: error('FAILED_PRECONDITION: If-Match or If-None-Match did not hold; nothing was written or sent'),
  422: error('INVALID_ARGUMENT (reason IDEMPOTENCY_KEY_REUSED): the Idempotency-Key was used for another request'),
}
const etagHeader = { etag: { description: 'the item\'s version (the sequence of its last change), for If-Match', schema: { type: 'string' } } }
const accepted = json('the event was sent', { type: 'object', required: ['timestamp'], properties: { timestamp: { type: 'integer' } } })

const streams = ['streams']
const operations = ['operations']

export const routeSchemas: Record<string, FastifySchema & Record<string, unknown>> = {
  'GET /streams': {
    tags: streams,
    summary: 'The streams this gateway serves',
    response: {
      200: json('the streams', {
        type: 'object',
        required: ['streams'],
        properties: { streams: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
      }),
    },
  },
  'GET /streams/:streamName/:groupId': {
    tags: streams,
    summary: "A group's items (`[]` for an empty or unknown group), or its changes as Server-Sent Events",
    params: group,
    querystring: resume,
    response: { 200: { description: "the group's items", content: { 'application/json': { schema: { type: 'array', items: ref('Item') } }, ...eventStream } }, ...refusals },
  },
  'GET /streams/:streamName/:groupId/:id': {
    tags: streams,
    summary: 'One item, or its changes as Server-Sent Events',
    params: item,
    querystring: resume,
    response: { 200: { description: 'the item', headers: etagHeader, content: { 'application/json': { schema: ref('Item') }, ...eventStream } }, ...refusals },
  },
  'PUT /streams/:streamName/:groupId/:id': {
    tags: streams,
    summary: "Sets an item: the body is its data (the id comes from the path), checked against the stream's schema",
    params: item,
    headers: {
      type: 'object',
      properties: { ...writeHeaders.properties, 'if-none-match': { type: 'string', description: '`*`: create only (412 when the item exists)' } },
    },
    querystring: {
      type: 'object',
      properties: { ttl: { type: 'integer', minimum: 1, description: 'delete the item (a delete frame for every subscriber) this many seconds later; a PUT without ttl clears it' } },
    },
    body: ref('Item'),
    response: {
      200: { ...json('replaced: the stored item', ref('Item')), headers: etagHeader },
      201: { ...json('created: the stored item', ref('Item')), headers: etagHeader },
      400: error("INVALID_ARGUMENT: the body is not JSON or does not match the stream's schema (`details` names each path)"),
      ...refusals,
      413: error('PAYLOAD_TOO_LARGE: larger than --max-item-bytes'),
      ...conditionRefusals,
    },
  },
  'DELETE /streams/:streamName/:groupId/:id': {
    tags: streams,
    summary: 'Removes an item; a missing one is 404 and sends nothing',
    params: item,
    headers: writeHeaders,
    response: { 200: json('the removed item', ref('Item')), ...refusals, ...conditionRefusals },
  },
  'POST /streams/:streamName/:groupId/events': {
    tags: streams,
    summary: "A custom event to the group's subscribers",
    params: group,
    headers: { type: 'object', properties: { 'idempotency-key': idempotencyKey } },
    body: eventBody,
    response: { 202: accepted, 400: error('INVALID_ARGUMENT: the body is not {type, data}'), ...refusals, 422: conditionRefusals[422] },
  },
  'POST /streams/:streamName/:groupId/:id/events': {
    tags: streams,
    summary: "A custom event to the item's and its group's subscribers",
    params: item,
    headers: { type: 'object', properties: { 'idempotency-key': idempotencyKey } },
    body: eventBody,
    response: { 202: accepted, 400: error('INVALID_ARGUMENT: the body is not {type, data}'), ...refusals, 422: conditionRefusals[422] },
  },
  'GET /events': {
    tags: streams,
    summary: 'Several subscriptions on one Server-Sent Events stream',
    // querystring: the SSE transport's own, which validates (gateway/transports/sse/sse-transport.ts).
    response: { 200: { description: 'the events', content: eventStream }, 400: error('INVALID_ARGUMENT: a malformed subscription'), ...refusals },
  },
  'GET /healthz': { tags: operations, summary: 'Liveness', response: { 200: json('alive', { type: 'object', properties: { status: { const: 'ok' } } }) } },
  'GET /readyz': {
    tags: operations,
    summary: 'Readiness: 503 while starting, draining or without its store',
    response: {
      200: json('ready', { type: 'object', properties: { status: { const: 'ready' } } }),
      503: json('not ready', { type: 'object', properties: { status: { const: 'not ready' } } }),
    },
  },
  'GET /metrics': {
    tags: operations,
    summary: 'Prometheus metrics',
    response: { 200: { description: 'the text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
  },
}
