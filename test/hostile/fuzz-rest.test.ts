import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AUTH_CONFIG } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { anyName, anyObject, nameIsValid, payloadIsValid } from '../helpers/hostile-inputs.ts'
import { type RawAnswer, rawRequest } from '../helpers/http-clients.ts'
import { pathSegment } from '../helpers/writers.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * REST fed what a hostile client sends: any body under any content type, any headers (Authorization
 * above all), any path. Every answer is a status of the contract with its JSON error, never a 500, and the
 * verdict on a JSON item is the core's.
 */

let gateway: GatewayProcess
watchGateway({ args: ['--config', AUTH_CONFIG] }, (w) => (gateway = w.gateway))

const CONTRACT_STATUSES = [200, 201, 202, 400, 401, 403, 404, 413, 431]

function assertContractAnswer(answer: RawAnswer) {
  expect(CONTRACT_STATUSES, `status ${answer.status}: ${answer.body.slice(0, 200)}`).toContain(answer.status)
  if (answer.status >= 400) expect(answer.json).toEqual({ code: expect.any(String), message: expect.any(String), details: expect.any(Array) })
}

const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', ''),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
)
const anyBody = fc.oneof(
  anyObject.map((o) => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '{"a":', 'null', '[]', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"x":1}}}', '\ufeff{}'),
)

describe('REST', () => {
  it('answers any body under any content type with a contract status, and a JSON object item as the core decides', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('PUT', 'POST', 'DELETE'), contentType, anyBody, async (method, type, body) => {
        const path = method === 'POST' ? '/streams/chat/bodies/events' : '/streams/chat/bodies/item'
        const answer = await rawRequest(gateway.port, method, path, type === '' ? {} : { 'content-type': type }, body)
        assertContractAnswer(answer)
        let parsed: unknown
        try {
          parsed = JSON.parse(body)
        } catch {
          parsed = undefined
        }
        const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        if (method === 'PUT' && /^application\/json(;|$)/i.test(type) && isObject) {
          const item = parsed as Record<string, unknown>
          const accepted = payloadIsValid(item) && (item.id === undefined || item.id === 'item')
          expect({ body, status: answer.status >= 400 ? answer.status : 'accepted' }).toEqual({ body, status: accepted ? 'accepted' : 400 })
        }
      }),
      { numRuns: 300 },
    )
  })

  const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((n) => !['content-length', 'transfer-encoding', 'host', 'connection', 'upgrade', 'expect', 'te', 'trailer'].includes(n))
  const headerValue = fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((v) => v.replace(/[^\x20-\x7e\t]/g, '').trim())
  const authorization = fc.oneof(
    fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', ''), fc.constantFrom(' ', '  ', '\t', ''), fc.oneof(fc.constantFrom('u1', 'bad', 'two words', ''), headerValue)).map(([a, b, c]) => `${a}${b}${c}`),
    headerValue,
  )

  /** What the contract makes of an Authorization header: the bearer token, none, or a refusal. */
  function expectedAuth(header: string | undefined): 'anonymous' | 'refused' | string {
    if (header === undefined) return 'anonymous'
    const value = header.trim()
    const space = value.search(/[ \t]/)
    const scheme = space < 0 ? value : value.slice(0, space)
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(scheme)) return 'refused'
    if (scheme.toLowerCase() !== 'bearer') return 'anonymous'
    const token = space < 0 ? '' : value.slice(space).trim()
    if (!/^[\x21-\x7e]+$/.test(token)) return 'refused'
    return token === 'bad' ? 'refused' : token
  }

  it('reads any Authorization header (and any other headers) as the contract says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(authorization, { nil: undefined }), fc.dictionary(headerName, headerValue, { maxKeys: 6 }), async (auth, headers) => {
        delete headers.authorization
        const answer = await rawRequest(gateway.port, 'GET', '/streams/private/u1', { ...headers, ...(auth === undefined ? {} : { authorization: auth }) })
        assertContractAnswer(answer)
        const expected = expectedAuth(auth)
        // private/u1 is open to user u1 only: 200 for u1, 403 for anyone else, 401 for a refused header.
        const status = expected === 'refused' ? 401 : expected === 'u1' ? 200 : 403
        expect({ auth, status: answer.status }).toEqual({ auth, status })
      }),
      { numRuns: 300 },
    )
  })

  it('answers any path with a contract status', async () => {
    const segment = fc.oneof(anyName.map(pathSegment), fc.constantFrom('%', '%zz', '%2', '..', '.', '%2e%2e', '', '%00', '%ED%A0%80', '%C0%AF', '%FF', ';', '*'))
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'PUT', 'DELETE', 'POST'), fc.array(segment, { maxLength: 5 }), fc.constantFrom('', '?x=1', '?authToken=', '?%zz', '#f'), async (method, segments, tail) => {
        const answer = await rawRequest(gateway.port, method, `/streams/${segments.join('/')}${tail}`, { 'content-type': 'application/json' }, method === 'PUT' || method === 'POST' ? '{"type":"t"}' : undefined)
        assertContractAnswer(answer)
      }),
      { numRuns: 300 },
    )
  })

  it('stores exactly what REST accepted: a read answers the item with every name it was written under', async () => {
    await fc.assert(
      fc.asyncProperty(anyName.filter(nameIsValid), anyName.filter(nameIsValid), async (group, id) => {
        const path = `/streams/chat/${pathSegment(group)}/${pathSegment(id)}`
        expect((await rawRequest(gateway.port, 'PUT', path, { 'content-type': 'application/json' }, '{"v":1}')).status).toBeLessThan(300)
        expect((await rawRequest(gateway.port, 'GET', path)).json).toEqual({ id, v: 1 })
        expect((await rawRequest(gateway.port, 'DELETE', path)).status).toBe(200)
      }),
      { numRuns: 100 },
    )
  })
})
