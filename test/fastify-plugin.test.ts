import { mkdtemp, rm } from 'node:fs/promises'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventSource } from 'eventsource'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { loadStreams } from '../gateway/config/load-modules.ts'
import { streamgatePlugin } from '../gateway/index.ts'
import { FIXTURE_STREAMS, rest, until } from './helpers/gateway.ts'
import { catchUncaught, flavor, MotiaClient } from './helpers/motia-clients.ts'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A host app with its own route and its own WebSocket path, the gateway registered in it. */
async function hostApp(options: { prefix?: string; dataDir?: string } = {}) {
  // Request ids are the host's: this one takes its clients' `x-request-id`.
  const app = Fastify({ requestIdHeader: 'x-request-id' })
  app.get('/hello', async () => ({ hello: 'world' }))
  // The host's own upgrades: answered here, never by the gateway.
  app.server.on('upgrade', (request, socket) => {
    if (request.url === '/host-ws') socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  })
  await app.register(streamgatePlugin, {
    streams: await loadStreams([FIXTURE_STREAMS]),
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.dataDir ? { durable: { dataDir: options.dataDir } } : {}),
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

function sseEvents(url: string) {
  const events: Array<{ type: string; data?: unknown }> = []
  const es = new EventSource(url)
  es.onmessage = (message) => events.push(JSON.parse(message.data).event)
  let ended = false
  es.onerror = () => {
    ended = true
  }
  return { es, events, ended: () => ended }
}

describe('streamgatePlugin in a host fastify app', () => {
  it('serves REST, SSE, Connect and a real Motia client under its prefix, next to the host routes, and closes with the app', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'streamgate-plugin-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const { app, url } = await hostApp({ prefix: '/gw', dataDir })
    let closed = false
    cleanups.push(async () => closed || app.close())
    const base = `${url}/gw`

    expect(await rest(url, 'GET', '/hello')).toMatchObject({ status: 200, body: { hello: 'world' } })
    expect(await rest(base, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await rest(base, 'GET', '/readyz')).toMatchObject({ status: 200 })
    expect(await rest(url, 'GET', '/streams/todo/g')).toMatchObject({ status: 404 })

    const sse = sseEvents(`${base}/streams/todo/g`)
    cleanups.push(async () => sse.es.close())
    const uncaught = catchUncaught()
    cleanups.push(async () => uncaught.dispose())
    const motia = new MotiaClient(flavor('@motiadev/stream-client-node'), `${base.replace('http', 'ws')}`)
    cleanups.push(async () => motia.close({ force: true }))
    const group = motia.group('todo', 'g')
    await motia.synced()
    await until(() => sse.events.length === 1, 'the SSE sync')

    const put = await rest(base, 'PUT', '/streams/todo/g/a', { title: 'from REST' }, { 'x-request-id': 'plugin-1' })
    expect(put).toMatchObject({ status: 201, body: { id: 'a', title: 'from REST' } })
    expect(put.headers.get('x-request-id')).toBe('plugin-1')
    expect(await rest(base, 'GET', '/streams/todo/g/a')).toMatchObject({ status: 200, body: { id: 'a', title: 'from REST' } })
    await until(() => (group.state as Array<{ id: string }>).some((i) => i.id === 'a'), 'the Motia client got the write')
    await until(() => sse.events.some((e) => e.type === 'create'), 'the SSE subscriber got the write')
    expect(sse.events.at(-1)).toMatchObject({ type: 'create', data: { id: 'a', title: 'from REST' } })

    // The host writes from its own code through the decoration.
    await app.streamgate.streams.todo!.set('g', 'b', { title: 'from the host' })
    await until(() => (group.state as Array<{ id: string }>).some((i) => i.id === 'b'), 'the host write delivered')

    const unary = await fetch(`${base}/streamgate.v1.StreamService/Get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ streamName: 'todo', groupId: 'g', id: 'b' }),
    })
    expect(await unary.json()).toMatchObject({ item: { id: 'b', title: 'from the host' } })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/^streamgate_connections\{transport="websocket"\} 1$/m)
    expect(metrics).toMatch(/^streamgate_write_duration_seconds_count\{operation="set",transport="rest"\} 1$/m)

    // Upgrades outside the prefix are the host's.
    const hostWs = new WebSocket(`${url.replace('http', 'ws')}/host-ws`)
    const status = await new Promise<number>((resolve) => hostWs.once('unexpected-response', (_request, response) => resolve(response.statusCode!)))
    expect(status).toBe(418)

    // Closing the app tells the clients to come back and closes the store.
    let code: number | undefined
    motia.socket.addEventListener('close', (event) => (code = (event as unknown as { code: number }).code))
    await app.close()
    closed = true
    expect(code).toBe(1001)
    motia.stream.close()
    await until(() => sse.ended(), 'the SSE stream ended')
    sse.es.close()
    uncaught.take(/ECONNREFUSED/)

    // The data directory was released: a new app opens it, with the data.
    const again = await hostApp({ prefix: '/gw', dataDir })
    cleanups.push(() => again.app.close())
    expect(await rest(`${again.url}/gw`, 'GET', '/streams/todo/g/a')).toMatchObject({ status: 200, body: { title: 'from REST' } })
  })

  it('without a prefix takes WebSocket upgrades on any path and serves the inspector', async () => {
    const { app, url } = await hostApp()
    cleanups.push(() => app.close())
    expect(await rest(url, 'GET', '/hello')).toMatchObject({ status: 200, body: { hello: 'world' } })
    expect((await fetch(`${url}/inspector`)).status).toBe(200)
    const ws = new WebSocket(`${url.replace('http', 'ws')}/any/path`)
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const frames: unknown[] = []
    ws.on('message', (data) => frames.push(JSON.parse(String(data))))
    ws.send(JSON.stringify({ type: 'join', data: { streamName: 'todo', groupId: 'g', subscriptionId: 's' } }))
    await until(() => frames.length === 1, 'the sync')
    ws.close()
  })

  it('serves Connect and REST over HTTP/2 when the host app is http2', async () => {
    const app: FastifyInstance = Fastify({ http2: true }) as unknown as FastifyInstance
    await app.register(streamgatePlugin, { streams: await loadStreams([FIXTURE_STREAMS]), prefix: '/gw' })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    cleanups.push(() => app.close())
    const session = http2.connect(url)
    cleanups.push(async () => session.close())
    const call = (headers: http2.OutgoingHttpHeaders, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request(headers)
        let status = 0
        let text = ''
        stream.on('response', (h) => (status = Number(h[':status'])))
        stream.on('data', (chunk) => (text += chunk))
        stream.on('end', () => resolve({ status, body: text }))
        stream.on('error', reject)
        stream.end(body)
      })
    const put = await call({ ':method': 'PUT', ':path': '/gw/streams/todo/g/h', 'content-type': 'application/json' }, JSON.stringify({ title: 'h2' }))
    expect(put.status).toBe(201)
    const get = await call({ ':method': 'POST', ':path': '/gw/streamgate.v1.StreamService/Get', 'content-type': 'application/json' }, JSON.stringify({ streamName: 'todo', groupId: 'g', id: 'h' }))
    expect(JSON.parse(get.body)).toMatchObject({ item: { id: 'h', title: 'h2' } })
  })
})
