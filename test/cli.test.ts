import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { killCliProcesses, launch, runCli, tempDataDir } from './helpers/cli-process.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { AUTH_CONFIG, FIXTURE_STREAMS, rest, until } from './helpers/gateway.ts'
import { parseCliOptions } from '../gateway/config/cli-options.ts'

afterEach(killCliProcesses)

/** Runs `streamgate` expecting it to exit on its own: its exit code and what it printed. */
async function runToExit(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, env)
  const code = await run.exited
  return { code, stdout: run.stdout(), stderr: run.stderr() }
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

  it('answers -h, --help and --version without starting, and exits 0', async () => {
    for (const flag of ['-h', '--help']) {
      const { code, stdout } = await runToExit([flag])
      expect(code).toBe(0)
      expect(stdout).toMatch(/^Usage: streamgate \[options\]/)
      expect(stdout).toMatch(/--drain-delay S/)
    }
    const { code, stdout } = await runToExit(['--version'])
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
  })

  it('listens on PORT when STREAMGATE_PORT is not set, and STREAMGATE_PORT wins over it', async () => {
    const port = await freePort()
    const { url } = await launch(['--streams', FIXTURE_STREAMS], { PORT: String(port) })
    expect(new URL(url).port).toBe(String(port))
    const { url: second } = await launch(['--streams', FIXTURE_STREAMS], { PORT: String(port), STREAMGATE_PORT: '0' })
    expect(new URL(second).port).not.toBe(String(port))
  })

  it('drains on SIGTERM: /readyz answers 503 while the port stays open for --drain-delay, then it closes', async () => {
    const { child, url } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--drain-delay', '1.5'])
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    const signalled = Date.now()
    child.kill('SIGTERM')
    await until(async () => (await fetch(`${url}/readyz`)).status === 503, 'readiness to turn 503')
    // Still serving everything else during the delay.
    expect((await rest(url, 'PUT', '/streams/todo/drain/a', { title: 'x' })).status).toBe(201)
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(1500)
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  })

  it('cuts the drain delay short on a second signal', async () => {
    const { child, url } = await launch(['--streams', FIXTURE_STREAMS, '--port', '0'], { STREAMGATE_DRAIN_DELAY: '60' })
    child.kill('SIGTERM')
    await until(async () => (await fetch(`${url}/readyz`)).status === 503, 'readiness to turn 503')
    const second = Date.now()
    child.kill('SIGINT')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(Date.now() - second).toBeLessThan(10_000)
  })
})

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  return port
}

describe('startup failures: one line naming what and where, and a non-zero exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamgate-cli-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const folder = (name: string, files: Record<string, string>) => {
    const path = join(dir, name)
    mkdirSync(path, { recursive: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text)
    return path
  }

  const expectOneLine = (stderr: string, pattern: RegExp) => {
    const lines = stderr.trim().split('\n')
    expect(lines, stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^streamgate: /)
    expect(lines[0]).toMatch(pattern)
  }

  it('a missing streams folder', async () => {
    const missing = join(dir, 'no-such-folder')
    const { code, stderr } = await runToExit(['--streams', missing, '--port', '0'])
    expect(code).toBe(1)
    expectOneLine(stderr, new RegExp(`--streams ${missing}: no such folder`))
  })

  it('a TypeScript stream file with a syntax error, by file, line and column', async () => {
    const streams = folder('syntax', { 'broken.stream.ts': "import { z } from 'zod'\nexport const config = {\n  name: 'x',,\n}\n" })
    const { code, stderr } = await runToExit(['--streams', streams, '--port', '0'])
    expect(code).toBe(1)
    expectOneLine(stderr, new RegExp(`stream file ${join(streams, 'broken.stream.ts')}:3:\\d+ does not load: .*Expected`))
  })

  it('a JavaScript stream file that throws while loading, by file and line', async () => {
    const streams = folder('throws', { 'boom.stream.mjs': "const ok = 1\nthrow new Error('boom')\nexport const config = { name: 'x' }\n" })
    const { code, stderr } = await runToExit(['--streams', streams, '--port', '0'])
    expect(code).toBe(1)
    expectOneLine(stderr, new RegExp(`stream file ${join(streams, 'boom.stream.mjs')}:2:\\d+ does not load: Error: boom`))
  })

  it('a stream file without a config export', async () => {
    const streams = folder('noconfig', { 'empty.stream.js': 'export const other = 1\n' })
    const { code, stderr } = await runToExit(['--streams', streams, '--port', '0'])
    expect(code).toBe(1)
    expectOneLine(stderr, new RegExp(`stream file ${join(streams, 'empty.stream.js')} does not export a stream \`config\``))
  })

  it('a missing --config file', async () => {
    const { code, stderr } = await runToExit(['--streams', FIXTURE_STREAMS, '--config', join(dir, 'nope.config.ts'), '--port', '0'])
    expect(code).toBe(1)
    expectOneLine(stderr, /--config .*nope\.config\.ts: no such file/)
  })

  it('a port in use', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as { port: number }
    try {
      const { code, stderr } = await runToExit(['--streams', FIXTURE_STREAMS, '--port', String(port)])
      expect(code).toBe(1)
      expectOneLine(stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`))
    } finally {
      taken.close()
    }
  })

  it.each([
    [['--port', '70000'], /--port must be a whole number from 0 to 65535, got "70000"/],
    [['--port', 'abc'], /--port must be a whole number from 0 to 65535, got "abc"/],
    [['--port'], /--port needs a value/],
    [['--max-item-bytes=-1'], /--max-item-bytes must be a whole number, got "-1"/],
    [['--max-item-bytes', '-1'], /--max-item-bytes needs a value; write --max-item-bytes=-\.\.\. for one that starts with "-"/],
    [['--drain-delay', 'soon'], /--drain-delay must be a number of seconds from 0 to 2147483, got "soon"/],
    [['--bogus'], /unknown option --bogus/],
    [['streams'], /unexpected argument streams/],
    [['--redis-prefix', 'x:'], /--redis-prefix needs --redis/],
    [['--log-level', 'loud'], /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/],
  ])('a bad command line %j: exit 2', async (args, pattern) => {
    const { code, stderr } = await runToExit(args)
    expect(code).toBe(2)
    expectOneLine(stderr, pattern)
  })

  it('a bad environment variable, named as such', async () => {
    const { code, stderr } = await runToExit([], { PORT: '99999' })
    expect(code).toBe(2)
    expectOneLine(stderr, /PORT must be a whole number from 0 to 65535, got "99999"/)
  })

  it('keeps state in --data-dir (the default store) across a kill -9', async () => {
    const dir = tempDataDir()
    const durable = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--data-dir', dir])
    expect((await rest(durable.url, 'PUT', '/streams/todo/cli/a', { title: 'kept' })).status).toBe(201)
    durable.child.kill('SIGKILL')
    await once(durable.child, 'exit')
    const again = await launch(['--streams', FIXTURE_STREAMS, '--port', '0'], { STREAMGATE_DATA_DIR: dir })
    expect((await rest(again.url, 'GET', '/streams/todo/cli')).body).toEqual([{ title: 'kept', done: false, id: 'a' }])
  })

  it('keeps state in memory with --memory, and exits 2 when two stores are asked for', async () => {
    const memory = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--memory'], { STREAMGATE_DATA_DIR: '' })
    expect((await rest(memory.url, 'PUT', '/streams/todo/cli/a', { title: 'x' })).status).toBe(201)
    const refusals = [['--memory', '--data-dir', tempDataDir()], ['--memory', '--redis', 'redis://127.0.0.1:1'], ['--fsync', '--memory']].map((args) => runToExit(args, { STREAMGATE_DATA_DIR: '' }))
    for (const { code, stderr } of await Promise.all(refusals)) {
      expect(code).toBe(2)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toMatch(/^streamgate: --(memory|fsync)/)
    }
  })

  it('takes every HTTP setting from a flag or its environment variable, flags first', () => {
    const options = parseCliOptions(
      ['--first-bytes-timeout-ms', '500', '--headers-timeout-ms', '2000', '--idle-timeout-ms', '9000', '--max-header-bytes', '8192', '--max-connections', '100'],
      { STREAMGATE_REQUEST_TIMEOUT_MS: '4000', STREAMGATE_MAX_SESSION_MEMORY: '1000000', STREAMGATE_IDLE_TIMEOUT_MS: '1' },
    )
    expect(typeof options === 'object' && options.http).toEqual({
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
