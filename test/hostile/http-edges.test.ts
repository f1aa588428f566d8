import { once } from 'node:events'
import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { streamClient } from '../helpers/connect-clients.ts'
import { AUTH_CONFIG } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { rawClient } from '../helpers/raw-ws.ts'
import { sseRead } from '../helpers/sse.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * The HTTP edges of issue 11, against the gateway process: REST names as long as the core allows, bodies
 * many clients send, query parameters given twice, fastify's own errors in the contract's shape, the
 * Authorization header read strictly, tokens kept out of logs and bodies, and WebSocket origins.
 */

const SECRET = 'SECRET-7f3a9c'
const APP_ORIGIN = 'https://app.example'
let gateway: GatewayProcess
watchGateway({ args: ['--config', AUTH_CONFIG, '--cors-origin', APP_ORIGIN, '--log-level', 'debug'] }, (w) => (gateway = w.gateway))

const contractError = (code: string) => ({ code, message: expect.any(String), details: expect.any(Array) })
const json = { 'content-type': 'application/json' }

describe('REST: names, bodies and parameters', () => {
  it('takes group and item names up to 256 bytes (multi-byte, percent-encoded: 768 characters of path)', async () => {
    const name = 'é'.repeat(128)
    expect(Buffer.byteLength(name)).toBe(256)
    const path = `/streams/chat/${encodeURIComponent(name)}/${encodeURIComponent(name)}`
    expect((await rawRequest(gateway.port, 'PUT', path, json, '{"text":"long"}')).status).toBe(201)
    expect((await rawRequest(gateway.port, 'GET', path)).json).toEqual({ id: name, text: 'long' })
    expect((await rawRequest(gateway.port, 'GET', `/streams/chat/${encodeURIComponent(name)}`)).json).toEqual([{ id: name, text: 'long' }])
    expect((await rawRequest(gateway.port, 'DELETE', path)).status).toBe(200)
  })

  it('refuses a name longer than 256 bytes with 400 INVALID_ARGUMENT, like every transport (core limit)', async () => {
    const name = 'x'.repeat(257)
    const answer = await rawRequest(gateway.port, 'PUT', `/streams/chat/g/${name}`, json, '{"text":"x"}')
    expect({ status: answer.status, body: answer.json }).toEqual({ status: 400, body: contractError('INVALID_ARGUMENT') })
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '1.1' }))
    const refused = await connect.set({ streamName: 'chat', groupId: 'g', id: name, data: { text: 'x' } }).catch((e) => ConnectError.from(e))
    expect(refused).toMatchObject({ code: Code.InvalidArgument })
  })

  it('deletes with `Content-Type: application/json` and no body, as many HTTP clients send it', async () => {
    await rawRequest(gateway.port, 'PUT', '/streams/todo/edges/d1', json, '{"title":"gone soon"}')
    const answer = await rawRequest(gateway.port, 'DELETE', '/streams/todo/edges/d1', json)
    expect({ status: answer.status, body: answer.json }).toEqual({ status: 200, body: { id: 'd1', title: 'gone soon', done: false } })
    expect((await rawRequest(gateway.port, 'GET', '/streams/todo/edges/d1')).status).toBe(404)
  })

  it('answers an empty JSON body on a write with 400 INVALID_ARGUMENT, and stores nothing', async () => {
    const answer = await rawRequest(gateway.port, 'PUT', '/streams/todo/edges/e1', json, '')
    expect({ status: answer.status, body: answer.json }).toEqual({ status: 400, body: contractError('INVALID_ARGUMENT') })
    expect((await rawRequest(gateway.port, 'POST', '/streams/todo/edges/events', json, '')).json).toEqual(contractError('INVALID_ARGUMENT'))
    expect((await rawRequest(gateway.port, 'GET', '/streams/todo/edges/e1')).status).toBe(404)
  })

  it('refuses a repeated lastEventId with 400, never a 500 (SSE and /events)', async () => {
    const sse = { accept: 'text/event-stream' }
    for (const path of ['/streams/chat/edges?lastEventId=a.1&lastEventId=b.2', '/events?subscribe=chat/edges&lastEventId=a.1&lastEventId=b.2']) {
      const answer = await rawRequest(gateway.port, 'GET', path, sse)
      expect({ path, status: answer.status, body: answer.json }).toEqual({ path, status: 400, body: contractError('INVALID_ARGUMENT') })
    }
    const once = await sseRead(`${gateway.url}/events?subscribe=chat/edges&lastEventId=garbage`)
    expect(once.response.status).toBe(200)
    once.close()
  })

  it("answers fastify's own refusals in the contract's {code, message, details} shape", async () => {
    const cases: Array<[string, string, Record<string, string>, string | undefined, number, string]> = [
      ['bad percent-encoding', '/streams/todo/%zz/a', {}, undefined, 400, 'INVALID_ARGUMENT'],
      ['unknown path', '/nowhere', {}, undefined, 404, 'NOT_FOUND'],
      ['malformed JSON', '/streams/todo/edges/m', json, '{"title":', 400, 'INVALID_ARGUMENT'],
      ['another media type', '/streams/todo/edges/m', { 'content-type': 'text/plain' }, 'x', 400, 'INVALID_ARGUMENT'],
      ['a body past the item limit', '/streams/chat/edges/big', json, JSON.stringify({ text: 'x'.repeat(1024 * 1024 + 1) }), 413, 'PAYLOAD_TOO_LARGE'],
    ]
    for (const [what, path, headers, body, status, code] of cases) {
      const method = body === undefined ? 'GET' : 'PUT'
      const answer = await rawRequest(gateway.port, method, path, headers, body)
      expect({ what, status: answer.status, body: answer.json }).toEqual({ what, status, body: contractError(code) })
    }
  })
})

describe('Authorization: read strictly, the same on every transport', () => {
  const asUser = (authorization: string) => ({ authorization })

  it('matches the Bearer scheme in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect((await rawRequest(gateway.port, 'GET', '/streams/private/u1', asUser(`${scheme} u1`))).status, scheme).toBe(200)
      expect((await rawRequest(gateway.port, 'GET', '/streams/private/u1', asUser(`${scheme} bad`))).status, scheme).toBe(401)
    }
  })

  const unreadable = ['', 'Bearer', 'Bearer ', 'bearer two tokens', 'Bearer tab\there', '@@@ x', 'Bearer caf\u00e9']

  it('refuses an Authorization header that cannot be read with 401 on REST and SSE, never as anonymous', async () => {
    for (const header of unreadable) {
      const rest = await rawRequest(gateway.port, 'GET', '/streams/chat/edges', asUser(header))
      expect({ header, status: rest.status, body: rest.json }).toEqual({ header, status: 401, body: contractError('UNAUTHENTICATED') })
      const sse = await rawRequest(gateway.port, 'GET', '/streams/chat/edges', { ...asUser(header), accept: 'text/event-stream' })
      expect({ header, status: sse.status }).toEqual({ header, status: 401 })
    }
  })

  it('refuses it at the WebSocket handshake (401) and on Connect (UNAUTHENTICATED)', async () => {
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    for (const header of unreadable.filter((h) => /^[\x20-\x7e\t]*$/.test(h))) {
      const socket = new WebSocket(gateway.wsUrl, { headers: asUser(header) })
      socket.on('error', () => {})
      const [, response] = await once(socket, 'unexpected-response')
      expect({ header, status: response.statusCode }).toEqual({ header, status: 401 })
      socket.terminate()
      const refused = await connect.list({ streamName: 'chat', groupId: 'edges' }, { headers: asUser(header) }).catch((e) => ConnectError.from(e))
      expect({ header, code: (refused as ConnectError).code }).toEqual({ header, code: Code.Unauthenticated })
    }
  })

  it('leaves another scheme to the authenticate hook (anonymous with this one), and refuses a repeated ?authToken=', async () => {
    expect((await rawRequest(gateway.port, 'GET', '/streams/chat/edges', asUser('Basic dXNlcjpwYXNz'))).status).toBe(200)
    expect((await rawRequest(gateway.port, 'GET', '/streams/private/u1?authToken=u1&authToken=u2')).status).toBe(401)
  })
})

describe('tokens never appear in logs or error bodies', () => {
  it('keeps ?authToken= and bearer tokens out of the log (at debug level) and out of every answer', async () => {
    const query = `authToken=${SECRET}`
    const answers = [
      await rawRequest(gateway.port, 'GET', `/nowhere?${query}`),
      await rawRequest(gateway.port, 'GET', `/streams/chat/edges?${query}`),
      await rawRequest(gateway.port, 'GET', `/streams/nope/edges?${query}`),
      await rawRequest(gateway.port, 'GET', `/streams/private/other?${query}`),
      await rawRequest(gateway.port, 'GET', `/streams/todo/%zz?${query}`),
      await rawRequest(gateway.port, 'PUT', `/streams/todo/edges/t?${query}`, json, '{"title":'),
      await rawRequest(gateway.port, 'GET', '/streams/chat/edges', { authorization: `Bearer ${SECRET}` }),
      await rawRequest(gateway.port, 'GET', `/events?subscribe=nope/x&${query}`, { accept: 'text/event-stream' }),
    ]
    expect(answers[0]).toMatchObject({ status: 404, json: contractError('NOT_FOUND') })
    for (const answer of answers) expect(answer.body).not.toContain(SECRET)
    const ws = await rawClient(`${gateway.wsUrl}/?${query}`)
    ws.join('private', 'someone-else')
    await new Promise((r) => setTimeout(r, 100))
    ws.close()
    expect(gateway.lines.some((l) => l.json?.level === 20 && l.text.includes('incoming request'))).toBe(true)
    expect(gateway.lines.filter((l) => l.text.includes(SECRET)).map((l) => l.text)).toEqual([])
    expect(gateway.output()).toContain('authToken=%5Bredacted%5D')
  })
})

describe('WebSocket origins with --cors-origin', () => {
  const upgrade = (origin?: string) =>
    new Promise<number>((resolve) => {
      const socket = new WebSocket(gateway.wsUrl, origin === undefined ? {} : { origin })
      socket.on('error', () => {})
      socket.once('open', () => {
        socket.close()
        resolve(101)
      })
      socket.once('unexpected-response', (_request, response) => {
        socket.terminate()
        resolve(response.statusCode!)
      })
    })

  it('refuses an upgrade from another Origin with 403, and takes allowed, same-origin and origin-less ones', async () => {
    expect(await upgrade('https://evil.example')).toBe(403)
    expect(await upgrade('null')).toBe(403)
    expect(await upgrade(APP_ORIGIN)).toBe(101)
    expect(await upgrade(gateway.url)).toBe(101)
    expect(await upgrade()).toBe(101)
  })
})
