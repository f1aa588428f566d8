import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

/** A gateway whose log lines (at debug level) are kept, parsed, for the test to read. */
async function loggedGateway(options: { auth?: boolean; corsOrigins?: string[] } = {}) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  gw = await startGateway({ logger: pino({ level: 'debug' }, stream), ...options })
  return { gw, lines }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe('request ids', () => {
  it('echoes a sane x-request-id on REST and names the request in its log lines', async () => {
    const { gw, lines } = await loggedGateway()
    const response = await fetch(`${gw.url}/streams/todo/g/a`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' },
      body: JSON.stringify({ title: 't' }),
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('x-request-id')).toBe('abc-123')
    await until(() => lines.some((l) => l.msg === 'request completed' && l.reqId === 'abc-123'), 'the completion line with its id')
    expect(lines.filter((l) => l.reqId === 'abc-123').map((l) => l.msg)).toEqual(['incoming request', 'request completed'])
  })

  it('replaces an id that is too long or not a token with a fresh one', async () => {
    gw = await startGateway()
    for (const offered of ['x'.repeat(129), 'two words', undefined]) {
      const response = await fetch(`${gw.url}/streams/todo/g`, { headers: offered === undefined ? {} : { 'x-request-id': offered } })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-request-id')).toMatch(UUID)
    }
    const longest = 'y'.repeat(128)
    expect((await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': longest } })).headers.get('x-request-id')).toBe(longest)
  })

  it('echoes it on an SSE stream, whose own log lines carry it', async () => {
    const { gw, lines } = await loggedGateway()
    const controller = new AbortController()
    const response = await fetch(`${gw.url}/streams/todo/g`, {
      headers: { accept: 'text/event-stream', 'x-request-id': 'sse-1', 'last-event-id': 'not-a-token' },
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(response.headers.get('x-request-id')).toBe('sse-1')
    // The core's line about the stream's unusable resume token, logged on the request's logger.
    expect(lines.find((l) => l.msg === 'unusable resume token: starting from a fresh sync')).toMatchObject({ reqId: 'sse-1' })
    controller.abort()
  })

  it('echoes it on Connect unary calls and on the Subscribe stream', async () => {
    gw = await startGateway()
    const unary = await fetch(`${gw.url}/streamgate.v1.StreamService/ListStreams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'connect-1' },
      body: '{}',
    })
    expect(unary.status).toBe(200)
    expect((await unary.json()).streams.length).toBeGreaterThan(0)
    expect(unary.headers.get('x-request-id')).toBe('connect-1')
    const refused = await fetch(`${gw.url}/streamgate.v1.StreamService/Get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'connect-2' },
      body: JSON.stringify({ streamName: 'todo', groupId: 'g', id: 'missing' }),
    })
    expect(refused.status).toBe(404)
    expect(refused.headers.get('x-request-id')).toBe('connect-2')
    const controller = new AbortController()
    const stream = await fetch(`${gw.url}/streamgate.v1.StreamService/Subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/connect+json', 'x-request-id': 'connect-3' },
      body: envelope({ streamName: 'todo', groupId: 'g' }),
      signal: controller.signal,
    })
    expect(stream.status).toBe(200)
    expect(stream.headers.get('x-request-id')).toBe('connect-3')
    controller.abort()
  })

  it('names each WebSocket connection in its log lines and in the 101 answer', async () => {
    const { gw, lines } = await loggedGateway()
    const ws = new WebSocket(gw.wsUrl, { headers: { 'x-request-id': 'ws-1' } })
    const upgrade = new Promise<string | undefined>((resolve) => ws.once('upgrade', (response) => resolve(response.headers['x-request-id'] as string)))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    expect(await upgrade).toBe('ws-1')
    ws.send(JSON.stringify({ type: 'join', data: { streamName: 'nope', groupId: 'g', subscriptionId: 's1' } }))
    ws.send('garbage')
    await until(() => lines.some((l) => l.msg === 'ignored websocket frame'), 'the ignored frame logged')
    expect(lines.find((l) => l.msg === 'join refused')).toMatchObject({ connId: 'ws-1', code: 'NOT_FOUND' })
    expect(lines.find((l) => l.msg === 'ignored websocket frame')).toMatchObject({ connId: 'ws-1' })
    ws.close()

    // Without an id of its own, a connection gets a fresh one, different from every other connection's.
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const other = new WebSocket(gw.wsUrl)
      await new Promise((resolve, reject) => other.once('open', resolve).once('error', reject))
      other.send('garbage')
      await until(() => lines.filter((l) => l.msg === 'ignored websocket frame').length === i + 2, 'logged')
      ids.push(lines.filter((l) => l.msg === 'ignored websocket frame').at(-1)!.connId as string)
      other.close()
    }
    expect(ids[0]).toMatch(UUID)
    expect(ids[1]).toMatch(UUID)
    expect(ids[0]).not.toBe(ids[1])
  })
})

describe('request ids on refused WebSocket upgrades', () => {
  it('names a refused upgrade (401 for a refused token, 403 for a foreign Origin) in its answer', async () => {
    await loggedGateway({ auth: true, corsOrigins: ['https://app.example'] })
    const refusal = (headers: Record<string, string>) =>
      new Promise<{ status: number; id: unknown }>((resolve) => {
        const ws = new WebSocket(gw!.wsUrl, { headers })
        ws.once('unexpected-response', (_request, response) => resolve({ status: response.statusCode!, id: response.headers['x-request-id'] }))
        ws.once('error', () => {})
      })
    expect(await refusal({ authorization: 'Bearer bad', 'x-request-id': 'up-401' })).toEqual({ status: 401, id: 'up-401' })
    expect(await refusal({ origin: 'https://elsewhere.example', 'x-request-id': 'up-403' })).toEqual({ status: 403, id: 'up-403' })
    expect((await refusal({ authorization: 'Bearer bad' })).id).toMatch(UUID)
  })
})

/** One Connect streaming request message: flags, big-endian length, JSON. */
function envelope(message: unknown) {
  const json = Buffer.from(JSON.stringify(message))
  const head = Buffer.alloc(5)
  head.writeUInt32BE(json.length, 1)
  return Buffer.concat([head, json])
}
