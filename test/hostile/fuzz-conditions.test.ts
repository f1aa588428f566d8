import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { streamClient } from '../helpers/connect-clients.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { nameIsValid } from '../helpers/hostile-inputs.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * The inputs of conditional writes, generated: versions (If-Match / if_version), create-only, idempotency
 * keys, ttl, and on REST the raw condition headers and `x-request-id`. REST and Connect give the same verdict
 * as the contract's model on a fresh item, never a 500, and the gateway's watchdog stays quiet.
 */

let gateway: GatewayProcess
watchGateway({}, (w) => (gateway = w.gateway))

/** Ten years in seconds: the longest ttl (gateway/core/conditions.ts). */
const MAX_TTL = 10 * 365 * 86_400
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Text a header can carry as it is: visible ASCII, so neither side trims or refuses it. */
const headerSafe = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength })

interface Conditions {
  version?: bigint
  ifAbsent: boolean
  key?: string
  ttl?: number
}

const conditions: fc.Arbitrary<Conditions> = fc.record({
  version: fc.option(
    fc.oneof(fc.constantFrom(0n, 1n, 2n, BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER) + 1n, 10n ** 16n - 1n), fc.nat().map(BigInt), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    { nil: undefined },
  ),
  ifAbsent: fc.boolean(),
  key: fc.option(fc.oneof(headerSafe(20), headerSafe(300)), { nil: undefined }),
  // Connect's ttl_seconds is a uint32 whose 0 means none: the values both wires can say.
  ttl: fc.option(fc.oneof(fc.constantFrom(1, MAX_TTL, MAX_TTL + 1), fc.integer({ min: 1, max: 2 ** 32 - 1 })), { nil: undefined }),
})

type Verdict = 'created' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'deleted'

/** What the contract answers to a write with these conditions on an item that does not exist. */
function expected(method: 'PUT' | 'DELETE', c: Conditions): Verdict {
  const versionValid = c.version === undefined || c.version <= BigInt(Number.MAX_SAFE_INTEGER)
  if (!versionValid || (c.key !== undefined && !nameIsValid(c.key))) return 'INVALID_ARGUMENT'
  if (method === 'DELETE') return c.version === undefined ? 'NOT_FOUND' : 'FAILED_PRECONDITION'
  if (c.ifAbsent && c.version !== undefined) return 'INVALID_ARGUMENT'
  if (c.ttl !== undefined && c.ttl > MAX_TTL) return 'INVALID_ARGUMENT'
  return c.version === undefined ? 'created' : 'FAILED_PRECONDITION'
}

const REST_VERDICT: Record<number, Verdict> = { 200: 'deleted', 201: 'created' }
const CONNECT_CODES: Partial<Record<Code, Verdict>> = { [Code.InvalidArgument]: 'INVALID_ARGUMENT', [Code.FailedPrecondition]: 'FAILED_PRECONDITION', [Code.NotFound]: 'NOT_FOUND' }

describe('conditional writes with generated conditions', () => {
  let run = 0

  it('REST and Connect give the contract verdict for any version, create-only, key and ttl, and REST echoes any sane x-request-id', async () => {
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('PUT' as const, 'DELETE' as const), conditions, fc.option(fc.string({ maxLength: 150 }).map((s) => s.replace(/[^\x20-\x7e]/g, '').trim()), { nil: undefined }), async (method, c, requestId) => {
        // A group of its own for each run and transport: keys and items never meet an earlier run's.
        const restGroup = `conditions-${++run}-rest`
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (c.version !== undefined) headers['if-match'] = `"${c.version}"`
        if (c.ifAbsent && method === 'PUT') headers['if-none-match'] = '*'
        if (c.key !== undefined) headers['idempotency-key'] = c.key
        if (requestId !== undefined && requestId !== '') headers['x-request-id'] = requestId
        const query = method === 'PUT' && c.ttl !== undefined ? `?ttl=${c.ttl}` : ''
        const answer = await rawRequest(gateway.port, method, `/streams/chat/${restGroup}/item${query}`, headers, method === 'PUT' ? '{"v":1}' : undefined)
        const restVerdict = REST_VERDICT[answer.status] ?? answer.json?.code ?? `HTTP ${answer.status}`
        const echoed = answer.headers['x-request-id']
        expect(requestId && /^[\x21-\x7e]{1,128}$/.test(requestId) ? echoed === requestId : UUID.test(String(echoed)), `x-request-id ${JSON.stringify(requestId)} answered ${echoed}`).toBe(true)

        const at = { streamName: 'chat', groupId: `conditions-${run}-connect`, id: 'item' }
        const common = { ...(c.version === undefined ? {} : { ifVersion: c.version }), idempotencyKey: c.key ?? '' }
        const call = method === 'PUT' ? connect.set({ ...at, data: { v: 1 }, ...common, ifAbsent: c.ifAbsent, ttlSeconds: c.ttl ?? 0 }) : connect.delete({ ...at, ...common })
        const connectVerdict = await call.then(
          () => (method === 'PUT' ? 'created' : 'deleted'),
          (error) => CONNECT_CODES[ConnectError.from(error).code] ?? Code[ConnectError.from(error).code],
        )
        expect({ method, c, rest: restVerdict, connect: connectVerdict }).toEqual({ method, c, rest: expected(method, c), connect: expected(method, c) })
      }),
      { numRuns: 200 },
    )
  })

  it('REST refuses any malformed If-Match, If-None-Match or ttl with 400 and writes nothing', async () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, '').trim()), fc.constantFrom('*', 'W/"1"', '"1", "2"', '"-1"', '1', '""', '"1.5"', '"12345678901234567"'))
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('if-match', 'if-none-match', 'ttl'), value, async (input, raw) => {
        const wellFormed = input === 'if-match' ? /^"\d{1,16}"$/.test(raw) : input === 'if-none-match' ? raw === '*' : /^\d{1,10}$/.test(raw)
        fc.pre(!wellFormed && (input !== 'if-none-match' || raw !== ''))
        const path = `/streams/chat/conditions-${++run}-raw/item${input === 'ttl' ? `?ttl=${encodeURIComponent(raw)}` : ''}`
        const headers = { 'content-type': 'application/json', ...(input === 'ttl' ? {} : { [input]: raw }) }
        const answer = await rawRequest(gateway.port, 'PUT', path, headers, '{"v":1}')
        expect({ input, raw, status: answer.status, code: answer.json?.code }).toEqual({ input, raw, status: 400, code: 'INVALID_ARGUMENT' })
        expect((await rawRequest(gateway.port, 'GET', path.split('?')[0]!)).status).toBe(404)
      }),
      { numRuns: 200 },
    )
  })
})
