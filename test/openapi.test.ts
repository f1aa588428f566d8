// /openapi.json is generated from the routes' schemas: a valid OpenAPI 3.1 document whose paths are the
// routes the gateway really serves and whose item schemas accept what the gateway really returns. And
// fastify's own refusals (unknown route, malformed URL, unparsable body) answer in the gateway's error shape.
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { rest, startGateway, type TestGateway } from './helpers/gateway.ts'

let gateway: TestGateway
let doc: { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { schemas: Record<string, Record<string, unknown>> } }
beforeAll(async () => {
  gateway = await startGateway()
  const response = await fetch(`${gateway.url}/openapi.json`)
  expect(response.status).toBe(200)
  doc = await response.json()
})
afterAll(() => gateway.close())

const isErrorBody = (body: unknown) =>
  typeof body === 'object' && body !== null && Object.keys(body).sort().join() === 'code,details,message' &&
  typeof (body as { code: unknown }).code === 'string' && Array.isArray((body as { details: unknown }).details)

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0')
    const result = await new Validator().validate(doc as never)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  it('documents the REST and operations routes, not the Connect ones', () => {
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/events', '/healthz', '/metrics', '/openapi.json', '/readyz', '/streams',
      '/streams/{streamName}/{groupId}', '/streams/{streamName}/{groupId}/events', '/streams/{streamName}/{groupId}/{id}', '/streams/{streamName}/{groupId}/{id}/events',
    ])
    expect(Object.keys(doc.paths['/streams/{streamName}/{groupId}/{id}']!).sort()).toEqual(['delete', 'get', 'put'])
    expect(Object.keys(doc.paths['/streams/{streamName}/{groupId}']!.get!.responses['200'] as object)).toContain('content')
    expect(Object.keys((doc.paths['/streams/{streamName}/{groupId}']!.get!.responses['200'] as { content: object }).content)).toEqual(['application/json', 'text/event-stream'])
  })

  it('every documented operation is served (none answers "no route")', async () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      const concrete = path.replace('{streamName}', 'todo').replace('{groupId}', 'docs').replace('{id}', 'd1')
      for (const method of Object.keys(operations)) {
        const response = await fetch(`${gateway.url}${concrete}`, {
          method: method.toUpperCase(),
          headers: method === 'get' ? {} : { 'content-type': 'application/json' },
          body: method === 'get' || method === 'delete' ? undefined : JSON.stringify({ type: 'x', title: 'x' }),
          signal: AbortSignal.timeout(5000),
        })
        const text = path === '/events' ? '' : await response.text()
        expect(text, `${method} ${path}`).not.toMatch(/no route for/)
        if (path === '/events') await response.body?.cancel()
      }
    }
  })

  it("carries each stream's item schema (zod 4, zod 3, JSON Schema), and they accept what the gateway stores", async () => {
    const { schemas } = doc.components
    expect(schemas['item.todo']).toMatchObject({ title: 'todo', type: 'object', required: expect.arrayContaining(['id', 'title']) })
    expect(schemas['item.legacy']).toMatchObject({ title: 'legacy', properties: { count: { type: 'integer' } } })
    expect(schemas['item.python']).toMatchObject({ title: 'python', properties: { price: { type: 'number', minimum: 0 } } })
    expect(schemas.Item).toEqual({ anyOf: expect.arrayContaining([{ $ref: '#/components/schemas/item.todo' }]) })

    const ajv = new Ajv2020({ strict: false })
    const stored = {
      todo: (await rest(gateway.url, 'PUT', '/streams/todo/oa/t1', { title: 'write docs' })).body,
      legacy: (await rest(gateway.url, 'PUT', '/streams/legacy/oa/l1', { count: 3 })).body,
      python: (await rest(gateway.url, 'PUT', '/streams/python/oa/p1', { price: 2, tags: ['a'] })).body,
    }
    for (const [stream, item] of Object.entries(stored)) {
      const validate = ajv.compile(schemas[`item.${stream}`]!)
      expect(validate(item), `${stream}: ${JSON.stringify(validate.errors)}`).toBe(true)
      // The schemas can refuse: an item without its id, or with a wrong type.
      expect(validate({ ...item, id: undefined })).toBe(false)
    }
    expect(ajv.compile(schemas['item.todo']!)({ id: 'x', title: 42, done: false })).toBe(false)
  })
})

describe('a stream whose schema JSON Schema cannot express', () => {
  it('still starts; its component says why it has no JSON Schema', async () => {
    const shout = { name: 'shout', schema: z.object({ text: z.string().transform((text) => text.toUpperCase()) }) }
    const other = await startGateway({ streams: [shout] })
    try {
      const { components } = await (await fetch(`${other.url}/openapi.json`)).json()
      expect(components.schemas['item.shout']).toEqual({ title: 'shout', type: 'object', description: expect.stringMatching(/no JSON Schema form: Transforms/) })
      expect((await rest(other.url, 'PUT', '/streams/shout/g/a', { text: 'hi' })).body).toEqual({ id: 'a', text: 'HI' })
    } finally {
      await other.close()
    }
  })
})

describe("fastify's own refusals in the gateway's error shape", () => {
  it('an unknown route is 404 {code: NOT_FOUND, message, details}', async () => {
    const response = await rest(gateway.url, 'GET', '/no/such/route')
    expect(response.status).toBe(404)
    expect(response.body).toEqual({ code: 'NOT_FOUND', message: 'no route for GET /no/such/route', details: [] })
  })

  it('a malformed URL and an unparsable body are 400 INVALID_ARGUMENT', async () => {
    const url = await fetch(`${gateway.url}/streams/%zz`)
    expect(url.status).toBe(400)
    expect(await url.json()).toMatchObject({ code: 'INVALID_ARGUMENT', details: [] })
    const body = await fetch(`${gateway.url}/streams/todo/g/x`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"title":' })
    expect(body.status).toBe(400)
    expect(await body.json()).toMatchObject({ code: 'INVALID_ARGUMENT', details: [] })
  })

  it('whatever the path, method and body, every 4xx answer has the shape', async () => {
    const segment = fc.oneof(fc.webSegment(), fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom('%', '%zz', '..', 'streams', 'todo', 'events'))
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH'),
        fc.option(fc.oneof(fc.json(), fc.string()), { nil: undefined }),
        async (segments, method, body) => {
          const response = await fetch(`${gateway.url}/${segments.join('/')}`, {
            method,
            headers: body === undefined ? {} : { 'content-type': 'application/json' },
            body: method === 'GET' ? undefined : body,
          })
          if (response.headers.get('content-type')?.includes('text/event-stream')) return void (await response.body?.cancel())
          const text = await response.text()
          if (response.status >= 400 && response.status < 500) expect(isErrorBody(JSON.parse(text)), `${method} /${segments.join('/')} -> ${response.status} ${text}`).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })
})
