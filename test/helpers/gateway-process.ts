import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { FIXTURE_STREAMS, until } from './gateway.ts'

export const BIN = new URL('../../bin/streamgate.mjs', import.meta.url).pathname
/** The real CLI with test instruments (test/helpers/instrumented-gateway.mjs). */
export const INSTRUMENTED_BIN = new URL('./instrumented-gateway.mjs', import.meta.url).pathname
export const SLOW_STREAMS = new URL('../fixtures/slow-streams', import.meta.url).pathname
export const SLOW_CONFIG = new URL('../fixtures/slow.config.ts', import.meta.url).pathname

export interface LaunchOptions {
  /** Flags after the defaults (`--streams test/fixtures/streams --port 0`). */
  args?: string[]
  env?: Record<string, string>
  /** Node flags, e.g. `--expose-gc`. */
  nodeArgs?: string[]
  /** The script to run: the real CLI by default. */
  bin?: string
  /** A shell prefix such as `ulimit -n 256;` (the process then runs under `sh -c`). */
  shellPrefix?: string
}

/** One line the process wrote: its pino JSON when it is one, else the raw text. */
export interface OutputLine {
  stream: 'stdout' | 'stderr'
  text: string
  json?: { level: number; msg?: string; [key: string]: unknown }
}

/**
 * The gateway as users run it: `node bin/streamgate.mjs`, a process of its own, logging JSON to stdout.
 * Every line it writes is kept, so tests can assert on its logs.
 */
export class GatewayProcess {
  readonly lines: OutputLine[] = []
  url = ''
  private exitCode: number | null | undefined
  private exitSignal: NodeJS.Signals | null = null
  private expectedExit = false

  private constructor(readonly child: ChildProcess) {
    const collect = (stream: 'stdout' | 'stderr') => (text: string) => {
      let json: OutputLine['json']
      try {
        const parsed = JSON.parse(text)
        if (typeof parsed?.level === 'number') json = parsed
      } catch {
        // not a log line
      }
      this.lines.push({ stream, text, json })
    }
    createInterface({ input: child.stdout! }).on('line', collect('stdout'))
    createInterface({ input: child.stderr! }).on('line', collect('stderr'))
    child.once('exit', (code, signal) => {
      this.exitCode = code
      this.exitSignal = signal
    })
  }

  static async launch(options: LaunchOptions = {}): Promise<GatewayProcess> {
    const argv = [...(options.nodeArgs ?? []), options.bin ?? BIN, '--streams', FIXTURE_STREAMS, '--port', '0', ...(options.args ?? [])]
    // The default store is durable: each process gets a data directory of its own (removed when it exits)
    // unless the test names one, so no run sees what an earlier one wrote.
    const choosesStore = (options.args ?? []).some((a) => /^--(memory|redis|data-dir)(=|$)/.test(a)) || Object.keys(options.env ?? {}).some((k) => /^STREAMGATE_(MEMORY|REDIS|DATA_DIR)$/.test(k))
    const ownDataDir = choosesStore ? undefined : mkdtempSync(join(tmpdir(), 'streamgate-process-'))
    const env = { ...process.env, STREAMGATE_LOG_LEVEL: 'info', ...(ownDataDir ? { STREAMGATE_DATA_DIR: ownDataDir } : {}), ...options.env }
    const child = options.shellPrefix
      ? spawn('sh', ['-c', `${options.shellPrefix} exec "$0" "$@"`, process.execPath, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    if (ownDataDir) child.once('exit', () => rmSync(ownDataDir, { recursive: true, force: true }))
    const gateway = new GatewayProcess(child)
    gateway.url = await until(() => {
      if (gateway.exitCode !== undefined) throw new Error(`streamgate exited at startup:\n${gateway.output()}`)
      return gateway.lines.map((l) => /streamgate listening on (https?:\/\/[^ ]+)/.exec(l.json?.msg ?? '')?.[1]).find(Boolean)
    }, 'the listening line', 20_000)
    return gateway
  }

  get wsUrl() {
    return this.url.replace(/^http/, 'ws')
  }

  get port() {
    return Number(new URL(this.url).port)
  }

  get exited() {
    return this.exitCode !== undefined
  }

  output() {
    return this.lines.map((l) => l.text).join('\n')
  }

  /**
   * What says the process is not well: an error-level log line, anything on stderr (an uncaught exception,
   * a warning), or an exit nobody asked for.
   */
  problems(): string[] {
    const problems = this.lines
      .filter((l) => (l.json ? l.json.level >= 50 : true))
      .map((l) => `${l.stream}: ${l.text.slice(0, 2000)}`)
    if (this.exited && !this.expectedExit) problems.push(`the process exited (code ${this.exitCode}, signal ${this.exitSignal})`)
    return problems
  }

  /** The gateway's own metric from GET /metrics (0 when the series does not exist yet). */
  async metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `))
    return line ? Number(line.split(' ').at(-1)) : 0
  }

  /** The connection and subscription gauges of these transports that are not 0, as /metrics lines. */
  async held(transports: Array<'websocket' | 'sse' | 'connect'>): Promise<string[]> {
    const text = await (await fetch(`${this.url}/metrics`)).text()
    return text.split('\n').filter((l) => /^streamgate_(connections|subscriptions)\{/.test(l) && transports.some((t) => l.includes(`transport="${t}"`)) && !l.endsWith(' 0'))
  }

  /** Resolves once every connection and subscription of these transports is released; fails naming those that are not. */
  async released(transports: Array<'websocket' | 'sse' | 'connect'> = ['websocket', 'sse', 'connect']) {
    await until(async () => (await this.held(transports)).length === 0, 'every connection and subscription released').catch(async (error: Error) => {
      throw new Error(`${error.message}: ${(await this.held(transports)).join(', ')}`)
    })
  }

  /** Sends `signal` and resolves with the exit code once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.expectedExit = true
    if (!this.exited) {
      const exited = once(this.child, 'exit')
      this.child.kill(signal)
      await exited
    }
    return this.exitCode ?? null
  }
}
