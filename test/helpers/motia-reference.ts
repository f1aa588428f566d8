import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/**
 * The REAL Motia 0.17 server (`@motiadev/core`'s createServer, assembled by our harness in
 * test/motia-reference/) as a child process: the reference stream server for differential tests, and a Motia
 * app whose streams are kept in streamgate (@streamgate/client/motia).
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MOTIA_REF_SCRIPT = fileURLToPath(new URL('../motia-reference/server.mjs', import.meta.url))
const STREAMGATE_STORAGE_APP = fileURLToPath(new URL('../motia-reference/streamgate-storage-app.mjs', import.meta.url))

export interface MotiaProcess {
  url: string
  wsUrl: string
  port: number
  child: ChildProcess
  /** Resolves when the child process has exited (for whatever reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited(): boolean
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string
  close(): Promise<void>
}

export interface MotiaReference extends MotiaProcess {
  /** A backend writing through the control API: stream.set / delete / send inside the Motia process. */
  set(stream: string, group: string, id: string, data: unknown): Promise<unknown>
  delete(stream: string, group: string, id: string): Promise<unknown>
  send(stream: string, group: string, event: { type: string; data: unknown }, id?: string): Promise<unknown>
  get(stream: string, group: string, id: string): Promise<unknown>
  getGroup(stream: string, group: string): Promise<unknown[]>
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
  // Never leave a Motia server behind if the test process goes away without running afterAll.
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL')
  })
}

interface Launch {
  what: string
  script: string
  env: Record<string, string>
  nodeArgs?: string[]
  /** The line the script prints once it listens. */
  ready: RegExp
  startTimeoutMs: number
}

/**
 * Starts a Motia script on a free loopback port and resolves once it listens. Rejects with a message that
 * says what went wrong (missing @motiadev/core, crash, timeout) and carries the child's output; it never skips.
 */
async function startMotiaProcess(launch: Launch): Promise<MotiaProcess> {
  const failures: string[] = []
  // A port found free can be taken before the child binds it: retry on EADDRINUSE only.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort()
    try {
      return await spawnOn(port, launch)
    } catch (error) {
      const message = (error as Error).message
      failures.push(message)
      if (!message.includes('EADDRINUSE')) break
    }
  }
  throw new Error(`${launch.what} (real @motiadev/core) did not start:\n${failures.join('\n---\n')}`)
}

async function spawnOn(port: number, { script, env, nodeArgs = [], ready, startTimeoutMs }: Launch): Promise<MotiaProcess> {
  let output = ''
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
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
  let spawnError: Error | undefined
  child.once('error', (error) => (spawnError = new Error(`could not spawn node: ${error.message}`)))

  const kill = async () => {
    if (exitInfo) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
    await exited
    clearTimeout(timer)
  }

  const deadline = Date.now() + startTimeoutMs
  while (!ready.test(output)) {
    if (spawnError) throw spawnError
    if (exitInfo) {
      throw new Error(`exited before listening (code ${exitInfo.code}, signal ${exitInfo.signal}) on port ${port}; output:\n${output.trim()}`)
    }
    if (Date.now() > deadline) {
      await kill()
      throw new Error(`did not listen on port ${port} within ${startTimeoutMs} ms; output:\n${output.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    child,
    exited,
    hasExited: () => exitInfo !== undefined,
    output: () => output,
    close: kill,
  }
}

/** The reference stream server: Motia's memory storage, driven through its control API. */
export async function startMotiaReference(options: MotiaReferenceOptions = {}): Promise<MotiaReference> {
  const { streams = ['todo', 'chat'], startTimeoutMs = 15_000 } = options
  const motia = await startMotiaProcess({
    what: 'the Motia reference server',
    script: MOTIA_REF_SCRIPT,
    env: { STREAMS: streams.join(',') },
    ready: /motia reference stream server on/,
    startTimeoutMs,
  })
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(motia.url + path, {
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
    ...motia,
    set: (s, g, id, data) => call('POST', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`, data),
    delete: (s, g, id) => call('DELETE', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`),
    send: (s, g, event, id) => call('POST', `/__ref-send/${enc(s)}/${enc(g)}${id === undefined ? '' : `?id=${enc(id)}`}`, event),
    get: (s, g, id) => call('GET', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`),
    getGroup: (s, g) => call('GET', `/__ref/${enc(s)}/${enc(g)}`),
  }
}

/** A Motia app whose `streams` are kept in the streamgate at `streamgateUrl`, with the API step of steps/. */
export function startMotiaStreamgateApp(options: { streamgateUrl: string; token?: string; streams: string[] }): Promise<MotiaProcess> {
  return startMotiaProcess({
    what: 'the Motia app with streamgate storage',
    script: STREAMGATE_STORAGE_APP,
    nodeArgs: ['--import', 'tsx'],
    env: { STREAMGATE_URL: options.streamgateUrl, STREAMGATE_TOKEN: options.token ?? '', STREAMS: options.streams.join(',') },
    ready: /motia app with streamgate storage on/,
    startTimeoutMs: 20_000,
  })
}
