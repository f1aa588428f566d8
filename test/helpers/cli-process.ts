import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FIXTURE_STREAMS, until } from './gateway.ts'
import { freePort } from './redis-server.ts'

export const BIN = new URL('../../bin/streamgate.mjs', import.meta.url).pathname

const running = new Set<ChildProcess>()
const dataDirs: string[] = []

/** A fresh data directory, so the default (durable) store never writes into the working directory. */
export function tempDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'streamgate-cli-'))
  dataDirs.push(dir)
  return dir
}

/** Kills every command `runCli` started that is still running and removes their data directories (afterEach). */
export function killCliProcesses() {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** Runs the real `streamgate` binary, recording what it prints; on a data directory of its own unless `env` names one. */
export function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { STREAMGATE_DATA_DIR: tempDataDir(), ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  return { child, exited, stdout: () => stdout, stderr: () => stderr, output: () => stdout + stderr }
}

/** Starts a gateway with the real binary and resolves with the URL it prints. */
export async function launch(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, env)
  const url = await until(() => {
    if (run.child.exitCode !== null) throw new Error(`streamgate exited: ${run.output()}`)
    return /streamgate listening on (http:\/\/[^ ]+)/.exec(run.output())?.[1]
  }, 'the listening line')
  return { ...run, url }
}

/**
 * The real `streamgate` command on a durable data directory, on one port across restarts, so clients come
 * back to the same address. `kill()` is a real `kill -9`.
 */
export class CliGateway {
  private child: ChildProcess | undefined
  output = ''

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly args: string[],
  ) {}

  /** A fresh data directory unless one is given; `args` are added to every start. */
  static async create(options: { dataDir?: string; args?: string[] } = {}) {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'streamgate-cli-durable-'))
    return new CliGateway(dataDir, await freePort(), ['--streams', FIXTURE_STREAMS, ...(options.args ?? [])])
  }

  get url() {
    return `http://127.0.0.1:${this.port}`
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}`
  }

  get pid() {
    return this.child?.pid
  }

  /** Starts the process and resolves once it listens. */
  async start() {
    const child = this.spawn()
    this.child = child
    await until(() => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`streamgate exited: ${this.output}`)
      return /streamgate listening on/.test(this.output)
    }, 'the listening line', 20_000)
  }

  /** Runs the command once more on the same directory and resolves with how it ended (for refusals). */
  async run(): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...this.args, '--port', '0', '--data-dir', this.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const [code] = await once(child, 'exit')
    return { code, stderr }
  }

  private spawn() {
    this.output = ''
    const child = spawn(process.execPath, [BIN, ...this.args, '--port', String(this.port), '--data-dir', this.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    return child
  }

  /** `kill -9`, resolved once the process is gone. */
  async kill() {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  async restart() {
    await this.kill()
    await this.start()
  }

  async close() {
    await this.kill()
    rmSync(this.dataDir, { recursive: true, force: true })
  }
}
