import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { rawClient } from './helpers/raw-ws.ts'
import { AUTH_CONFIG, FIXTURE_STREAMS, rest, until } from './helpers/gateway.ts'
import { parseCliOptions } from '../gateway/config/cli-options.ts'

const BIN = new URL('../bin/streamgate.mjs', import.meta.url).pathname
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

/** Runs the real `streamgate` binary and resolves with the URL it prints. */
async function launch(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const url = await until(() => {
    if (child.exitCode !== null) throw new Error(`streamgate exited: ${output}`)
    return /streamgate listening on (http:\/\/[^ ]+)/.exec(output)?.[1]
  }, 'the listening line')
  return { child, url, output: () => output }
}

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

  it('takes every HTTP setting from a flag or its environment variable, flags first', () => {
    const options = parseCliOptions(
      ['--first-bytes-timeout-ms', '500', '--headers-timeout-ms', '2000', '--idle-timeout-ms', '9000', '--max-header-bytes', '8192', '--max-connections', '100'],
      { STREAMGATE_REQUEST_TIMEOUT_MS: '4000', STREAMGATE_MAX_SESSION_MEMORY: '1000000', STREAMGATE_IDLE_TIMEOUT_MS: '1' },
    )
    expect(options !== 'help' && options.http).toEqual({
      firstBytesTimeoutMs: 500,
      headersTimeoutMs: 2000,
      requestTimeoutMs: 4000,
      idleTimeoutMs: 9000,
      maxHeaderBytes: 8192,
      maxSessionMemoryBytes: 1_000_000,
      maxConnections: 100,
    })
    expect(() => parseCliOptions(['--headers-timeout-ms', '40000'], {})).toThrow(/--headers-timeout-ms \(40000\) must not exceed --request-timeout-ms \(30000\)/)
    expect(() => parseCliOptions(['--max-connections', '0'], {})).toThrow(/--max-connections must be at least 1/)
  })
})
