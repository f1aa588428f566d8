import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/**
 * The REAL Motia 0.17 stream server (`@motiadev/core`'s createServer, driven by our harness
 * test/motia-reference/server.mjs) as a child process, for differential tests.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MOTIA_REF_SCRIPT = fileURLToPath(new URL('../motia-reference/server.mjs', import.meta.url))

export interface MotiaReference {
  url: string
  wsUrl: string
  port: number
  child: ChildProcess
  /** Resolves when the child process has exited (for whatever reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited(): boolean
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string
  /** A backend writing through the control API: stream.set / delete / send inside the Motia process. */
  set(stream: string, group: string, id: string, data: unknown): Promise<unknown>
  delete(stream: string, group: string, id: string): Promise<unknown>
  send(stream: string, group: string, event: { type: string; data: unknown }, id?: string): Promise<unknown>
  get(stream: string, group: string, id: string): Promise<unknown>
  getGroup(stream: string, group: string): Promise<unknown[]>
  close(): Promise<void>
}

export interface MotiaReferenceOptions {
  streams?: string[]
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false
function killOnExit(child: ChildProcess) {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Never leave a reference server behind if the test process goes away without running afterAll.
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL')
  })
}

/**
 * Starts the reference server on a free loopback port and resolves once its HTTP API answers. Rejects with a
 * message that says what went wrong (missing @motiadev/core, crash, timeout) and carries the
 * child's output; it never skips.
 */
export async function startMotiaReference(options: MotiaReferenceOptions = {}): Promise<MotiaReference> {
  const { streams = ['todo', 'chat'], startTimeoutMs = 15_000 } = options
  const failures: string[] = []
  // A port found free can be taken before the child binds it: retry on EADDRINUSE only.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort()
    try {
      return await launch(port, streams, startTimeoutMs)
    } catch (error) {
      const message = (error as Error).message
      failures.push(message)
      if (!message.includes('EADDRINUSE')) break
    }
  }
  throw new Error(`the Motia reference server (real @motiadev/core) did not start:\n${failures.join('\n---\n')}`)
}

async function launch(port: number, streams: string[], startTimeoutMs: number): Promise<MotiaReference> {
  let output = ''
  const child = spawn(process.execPath, [MOTIA_REF_SCRIPT], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), STREAMS: streams.join(',') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  killOnExit(child)
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal }
      resolve(exitInfo)
    })
  })
  const spawnError = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`could not spawn node: ${error.message}`))))
  spawnError.catch(() => {})

  const url = `http://127.0.0.1:${port}`
  const kill = async () => {
    if (exitInfo) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
    await exited
    clearTimeout(timer)
  }

  // Ready = the control API answers (the HTTP server and the WebSocket server share the port).
  const deadline = Date.now() + startTimeoutMs
  for (;;) {
    if (exitInfo) {
      throw new Error(`reference server exited before accepting connections (code ${exitInfo.code}, signal ${exitInfo.signal}) on port ${port}; output:\n${output.trim()}`)
    }
    try {
      const response = await Promise.race([fetch(`${url}/__ref/${streams[0]}/__ready__`), spawnError])
      if (response.ok) {
        await response.arrayBuffer()
        break
      }
    } catch (error) {
      if ((error as Error).message.startsWith('could not spawn')) throw error
    }
    if (Date.now() > deadline) {
      await kill()
      throw new Error(`reference server did not accept connections on port ${port} within ${startTimeoutMs} ms; output:\n${output.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`reference ${method} ${path} -> ${response.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  const enc = encodeURIComponent
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    child,
    exited,
    hasExited: () => exitInfo !== undefined,
    output: () => output,
    set: (s, g, id, data) => call('POST', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`, data),
    delete: (s, g, id) => call('DELETE', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`),
    send: (s, g, event, id) => call('POST', `/__ref-send/${enc(s)}/${enc(g)}${id === undefined ? '' : `?id=${enc(id)}`}`, event),
    get: (s, g, id) => call('GET', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`),
    getGroup: (s, g) => call('GET', `/__ref/${enc(s)}/${enc(g)}`),
    close: kill,
  }
}
