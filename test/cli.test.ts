import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { BIN, killCliProcesses, launch } from './helpers/cli-process.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { AUTH_CONFIG, FIXTURE_STREAMS, rest, until } from './helpers/gateway.ts'

afterEach(killCliProcesses)

describe('the streamgate command', () => {
  it('serves the streams of --streams on the --port it prints, with structured logs', async () => {
    const { url, output } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0'])
    expect((await rest(url, 'PUT', '/streams/todo/cli/a', { title: 'x' })).status).toBe(201)
    const logLine = output().split('\n').find((l) => l.includes('streamgate listening'))!
    expect(JSON.parse(logLine)).toMatchObject({ level: 30, streams: expect.arrayContaining(['todo', 'chat']) })
  })

  it('reads its settings from STREAMGATE_* environment variables', async () => {
    const { url } = await launch([], { STREAMGATE_STREAMS: FIXTURE_STREAMS, STREAMGATE_PORT: '0', STREAMGATE_MAX_ITEM_BYTES: '100' })
    expect((await rest(url, 'PUT', '/streams/chat/env/a', { text: 'x'.repeat(200) })).status).toBe(413)
    expect((await rest(url, 'PUT', '/streams/chat/env/a', { text: 'short' })).status).toBe(201)
  })

  it('loads authenticate from --config: a bad token is refused with 401 at the WebSocket handshake', async () => {
    const { url } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--config', AUTH_CONFIG])
    const refused = new WebSocket(`${url.replace('http', 'ws')}/?authToken=bad`)
    const [, response] = await once(refused, 'unexpected-response')
    expect(response.statusCode).toBe(401)
    const ok = await rawClient(`${url.replace('http', 'ws')}/?authToken=u1`)
    ok.join('private', 'u1')
    ok.join('private', 'u2')
    await until(() => ok.frames.length === 2, 'a sync and a refusal')
    expect(ok.frames.find((f) => f.groupId === 'u2')?.event).toEqual({ type: 'event', event: { type: 'error', data: { code: 'STREAM_ACCESS_DENIED', message: 'Access denied' } } })
    expect(ok.frames.find((f) => f.groupId === 'u1')?.event).toEqual({ type: 'sync', data: [] })
    ok.close()
  })

  it('shuts down on SIGTERM: WebSocket clients get 1001, then the process exits 0', async () => {
    const { child, url } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0'])
    const client = await rawClient(url.replace('http', 'ws'))
    child.kill('SIGTERM')
    expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' })
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
  })

  it('takes --cors-origin and --sse-max-lifetime: allowed origins get CORS headers, SSE streams end to be resumed', async () => {
    const { url } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--cors-origin', 'https://app.example', '--sse-max-lifetime', '1'])
    const started = Date.now()
    const response = await fetch(`${url}/streams/chat/life`, { headers: { accept: 'text/event-stream', origin: 'https://app.example' } })
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example')
    await response.text()
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
  })

  it('exits 2 with usage on a bad flag value', async () => {
    const child = spawn(process.execPath, [BIN, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const [code] = await once(child, 'exit')
    expect(code).toBe(2)
    expect(err).toMatch(/--port must be a whole number/)
    expect(err).toMatch(/Usage: streamgate/)
  })
})
