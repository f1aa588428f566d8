import http from 'node:http'
import http2 from 'node:http2'
import { create, toBinary } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { GetRequestSchema, SendRequestSchema, SetRequestSchema, SubscribeRequestSchema } from '../../gateway/gen/streamgate/v1/stream_pb.ts'
import { streamClient } from '../helpers/connect-clients.ts'
import { until } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { anyName, anyObject, isWellFormed, nameIsValid } from '../helpers/hostile-inputs.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { pathSegment } from '../helpers/writers.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * Connect, gRPC and gRPC-Web fed what a hostile client sends: bytes that are no message, messages cut or
 * flipped, valid messages with any names, resume tokens and payloads. Every call ends with a status (never
 * a hang or a crash); a core refusal has the contract's code; only bytes that do not decode get INTERNAL,
 * as gRPC servers answer them; reads refuse exactly what REST refuses.
 */

const METHODS = ['Subscribe', 'Get', 'List', 'Set', 'Delete', 'Send', 'ListStreams']
let gateway: GatewayProcess
watchGateway({}, (w) => (gateway = w.gateway))
afterEach(() => gateway.released(['connect']))

const envelope = (payload: Uint8Array, flags = 0) => {
  const head = Buffer.alloc(5)
  head[0] = flags
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

/** Valid encodings of each kind of request, to cut and flip. */
const valid = [
  toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { streamName: 'chat', groupId: 'fuzz', resumeToken: 'x.1' })),
  toBinary(GetRequestSchema, create(GetRequestSchema, { streamName: 'chat', groupId: 'fuzz', id: 'a' })),
  toBinary(SetRequestSchema, create(SetRequestSchema, { streamName: 'chat', groupId: 'fuzz', id: 'a', data: { n: 1, s: 'x', l: [true, null] } })),
  toBinary(SendRequestSchema, create(SendRequestSchema, { streamName: 'chat', groupId: 'fuzz', type: 't', data: { kind: { case: 'stringValue', value: 'v' } } })),
]

/** Bytes that may or may not be a message: random, or a valid one cut short or with bytes flipped. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % (bytes.length + 1))),
  fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 })).map(([bytes, flips]) => {
    const copy = Uint8Array.from(bytes)
    for (const [at, value] of flips) copy[at % copy.length] = value
    return copy
  }),
)

/** connect-es answers bytes that do not decode with INTERNAL ("parse binary: ..."), as gRPC servers do; any other INTERNAL is a gateway bug. */
const isDecodeFailure = (message: string) => decodeURIComponent(message).startsWith('parse binary: ')

describe('bytes that may not be messages', () => {
  it('Connect over HTTP/1.1 (unary and server streaming) answers every body with a status', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), body, fc.boolean(), async (method, bytes, json) => {
        const payload = json ? Buffer.from(Buffer.from(bytes).toString('latin1')) : Buffer.from(bytes)
        if (method === 'Subscribe') {
          const call = await connectStream(gateway.port, `application/connect+${json ? 'json' : 'proto'}`, envelope(payload))
          if ('served' in call) return
          expect(call.error).toMatchObject({ code: expect.any(String) })
          if (call.error.code === 'internal') expect(isDecodeFailure(call.error.message), call.error.message).toBe(true)
          return
        }
        const headers = { 'content-type': `application/${json ? 'json' : 'proto'}`, 'connect-protocol-version': '1' }
        const answer = await rawRequest(gateway.port, 'POST', `/streamgate.v1.StreamService/${method}`, headers, payload)
        if (answer.status === 200) return
        expect(answer.json).toMatchObject({ code: expect.any(String) })
        if (answer.json.code === 'internal') expect(isDecodeFailure(answer.json.message), answer.json.message).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it('gRPC and gRPC-Web over HTTP/2 end every call with a status', async () => {
    const session = http2.connect(gateway.url)
    session.on('error', () => {})
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...METHODS), body, fc.constantFrom('application/grpc', 'application/grpc+proto', 'application/grpc-web+proto'), fc.boolean(), async (method, bytes, contentType, enveloped) => {
          const call = await rawHttp2Call(session, method, contentType, enveloped ? envelope(bytes) : Buffer.from(bytes))
          if (call.status === undefined) {
            // Only a Subscribe that was served stays open until the client cancels it.
            expect({ method, messages: call.messages > 0 }).toEqual({ method: 'Subscribe', messages: true })
            return
          }
          if (call.status === Code.Internal) expect(isDecodeFailure(call.message), call.message).toBe(true)
          expect(call.status).not.toBe(Code.Unknown)
        }),
        { numRuns: 200 },
      )
    } finally {
      session.destroy()
    }
  })
})

/** A Connect server-streaming Subscribe over HTTP/1.1: served (a message came: then cut) or its end-stream error. */
function connectStream(port: number, contentType: string, request: Buffer) {
  return new Promise<{ served: true } | { error: { code: string; message: string } }>((resolve, reject) => {
    const call = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/streamgate.v1.StreamService/Subscribe', headers: { 'content-type': contentType }, agent: false }, (response) => {
      let buffer = Buffer.alloc(0)
      response.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk])
        if (response.statusCode !== 200) return
        while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
          const [flags, length] = [buffer[0]!, buffer.readUInt32BE(1)]
          if (flags & 0x02) return resolve({ error: JSON.parse(buffer.subarray(5, 5 + length).toString()).error ?? { code: 'ok', message: '' } })
          call.destroy()
          return resolve({ served: true })
        }
      })
      response.on('end', () => (response.statusCode === 200 ? reject(new Error('the stream ended without an end-stream message')) : resolve({ error: JSON.parse(buffer.toString()) })))
    })
    call.on('error', () => {})
    call.end(request)
  })
}

/**
 * One call on a bare HTTP/2 session: its gRPC status (from the trailers, or for gRPC-Web from the trailer
 * frame of the body) and how many messages came; a Subscribe is cancelled once it was served for a while.
 */
function rawHttp2Call(session: http2.ClientHttp2Session, method: string, contentType: string, request: Buffer) {
  return new Promise<{ status?: number; message: string; messages: number }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': `/streamgate.v1.StreamService/${method}`, 'content-type': contentType, te: 'trailers' })
    let headers: http2.IncomingHttpHeaders = {}
    let buffer = Buffer.alloc(0)
    let messages = 0
    stream.on('response', (h) => (headers = h))
    stream.on('trailers', (t) => (headers = { ...headers, ...t }))
    stream.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
        const [flags, length] = [buffer[0]!, buffer.readUInt32BE(1)]
        if (flags & 0x80) {
          for (const line of buffer.subarray(5, 5 + length).toString('latin1').split('\r\n')) {
            const at = line.indexOf(':')
            if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
          }
        } else messages += 1
        buffer = buffer.subarray(5 + length)
      }
      if (method === 'Subscribe' && messages > 0) setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 50)
    })
    stream.on('error', reject)
    stream.on('close', () => {
      const status = headers['grpc-status']
      resolve({ status: status === undefined ? undefined : Number(status), message: String(headers['grpc-message'] ?? ''), messages })
    })
    stream.end(request)
  })
}

describe('valid messages with any names, tokens and payloads', () => {
  const make = (url: string) => ({
    'Connect binary, HTTP/2': streamClient(createConnectTransport({ baseUrl: url, httpVersion: '2' })),
    'Connect JSON, HTTP/1.1': streamClient(createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: false })),
    'gRPC (connect-node)': streamClient(createGrpcTransport({ baseUrl: url })),
  })

  const code = (error: unknown) => Code[ConnectError.from(error).code]
  const streamName = fc.oneof(fc.constantFrom('chat', 'todo', 'nope'), anyName)

  it('Subscribe: a sync for a valid address, whatever the resume token; the contract code otherwise', async () => {
    const all = make(gateway.url)
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(all)), streamName, anyName, fc.option(anyName, { nil: '' }), fc.string({ unit: 'binary', maxLength: 40 }), async (name, s, g, id, token) => {
        const client = all[name as keyof typeof all]
        const binary = !name.includes('JSON')
        fc.pre(!binary || [s, g, id, token].every(isWellFormed))
        const abort = new AbortController()
        let first: string
        try {
          for await (const event of client.subscribe({ streamName: s, groupId: g, id, resumeToken: token }, { signal: abort.signal })) {
            first = event.event.case ?? 'none'
            break
          }
          first ??= 'ended'
        } catch (error) {
          first = code(error)
        } finally {
          abort.abort()
        }
        const namesValid = [s, g, ...(id === '' ? [] : [id])].every(nameIsValid)
        const expected = !namesValid ? 'InvalidArgument' : !['chat', 'todo'].includes(s) ? 'NotFound' : ['sync', 'create', 'update', 'delete', 'custom']
        if (Array.isArray(expected)) expect(expected).toContain(first)
        else expect(first).toBe(expected)
      }),
      { numRuns: 200 },
    )
  })

  it('Get, List and Delete refuse exactly what REST refuses, with the same code', async () => {
    const connect = make(gateway.url)['Connect JSON, HTTP/1.1']
    const codes: Record<string, string> = { InvalidArgument: 'INVALID_ARGUMENT', NotFound: 'NOT_FOUND' }
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('Get', 'List', 'Delete'), streamName, anyName.filter((n) => n !== ''), anyName.filter((n) => n !== ''), async (method, s, g, id) => {
        const path = `/streams/${pathSegment(s)}/${pathSegment(g)}${method === 'List' ? '' : `/${pathSegment(id)}`}`
        const rest = await rawRequest(gateway.port, method === 'Delete' ? 'DELETE' : 'GET', path)
        const restVerdict = rest.status === 200 ? 'accepted' : rest.json?.code
        const call = method === 'Get' ? connect.get({ streamName: s, groupId: g, id }) : method === 'List' ? connect.list({ streamName: s, groupId: g }) : connect.delete({ streamName: s, groupId: g, id })
        const connectVerdict = await call.then(() => 'accepted', (error) => codes[code(error)] ?? code(error))
        expect({ method, rest: restVerdict }).toEqual({ method, rest: connectVerdict })
      }),
      { numRuns: 200 },
    )
  })

  it('Set and Send with any payload never answer INTERNAL or crash a subscriber of the group', async () => {
    const { 'Connect binary, HTTP/2': client } = make(gateway.url)
    const abort = new AbortController()
    const subscriber = client.subscribe({ streamName: 'chat', groupId: 'payloads' }, { signal: abort.signal })[Symbol.asyncIterator]()
    expect((await subscriber.next()).value?.event.case).toBe('sync')
    await fc.assert(
      fc.asyncProperty(fc.boolean(), anyName.filter(isWellFormed), anyObject.filter((o) => isWellFormed(JSON.stringify(o))), async (set, id, data) => {
        const call = set ? client.set({ streamName: 'chat', groupId: 'payloads', id, data: data as never }) : client.send({ streamName: 'chat', groupId: 'payloads', type: 't', data: { kind: { case: 'structValue', value: data as never } } })
        const verdict = await call.then(() => 'accepted', (error) => ConnectError.from(error))
        if (verdict instanceof ConnectError && verdict.code === Code.Internal) expect(isDecodeFailure(verdict.rawMessage), verdict.rawMessage).toBe(true)
        if (verdict === 'accepted') {
          const next = await subscriber.next()
          expect(next.done).toBe(false)
        }
      }),
      { numRuns: 150 },
    )
    abort.abort()
  })
})
