import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Redis } from 'ioredis'

/**
 * Each Redis test starts its own `redis-server` on a free loopback port (never the machine's shared one), with
 * its data in a fresh temporary directory, so it can stop, restart and wipe it at will.
 */

/** The first executable of `candidates` (PATH entries named `name` are tried after them), or `missing`. */
export function findBinary(name: string, candidates: Array<string | undefined>, missing: string): string {
  const path = (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name))
  for (const candidate of [...candidates.slice(0, 1), ...path, ...candidates.slice(1)]) {
    if (!candidate) continue
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // next
    }
  }
  throw new Error(missing)
}

/** The redis-server binary, or an error that says how to install it. */
export function redisServerBinary(): string {
  return findBinary(
    'redis-server',
    [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'],
    'redis-server is not installed: the Redis tests start their own Redis on a free port. ' +
      'Install it with `apt-get install redis-server` (Debian/Ubuntu; `brew install redis` on macOS), or set REDIS_SERVER to its path.',
  )
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface TestRedisOptions {
  /** AOF with fsync on every write: a stop (even SIGKILL) loses nothing Redis acknowledged. */
  persistent?: boolean
  /** More `redis-server` arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: string[]
}

export class TestRedis {
  private child: ChildProcess | undefined
  private output = ''

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: TestRedisOptions,
  ) {}

  static async start(options: TestRedisOptions = {}): Promise<TestRedis> {
    const binary = redisServerBinary()
    for (let attempt = 1; ; attempt++) {
      const redis = new TestRedis(await freePort(), mkdtempSync(join(tmpdir(), 'streamgate-redis-')), options)
      try {
        await redis.launch(binary)
        return redis
      } catch (error) {
        rmSync(redis.dir, { recursive: true, force: true })
        // Another process may have taken the port between freePort() and the bind.
        if (attempt >= 3 || !/Address already in use/.test(String(error))) throw error
      }
    }
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  private async launch(binary = redisServerBinary()) {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.options.persistent ? 'yes' : 'no',
      '--appendfsync', 'always',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--logfile', '',
      ...(this.options.args ?? []),
    ]
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.output = ''
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    const deadline = Date.now() + 10_000
    while (!/Ready to accept connections/.test(this.output)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at startup:\n${this.output}`)
      if (Date.now() > deadline) throw new Error(`redis-server did not get ready in 10 s:\n${this.output}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Starts Redis again on the same port, with the same data directory (see `wipe`). */
  async restart() {
    if (this.running) throw new Error('redis-server is still running')
    await this.launch()
  }

  /** SIGTERM (Redis shuts down cleanly, fsyncing its AOF) or SIGKILL; resolves once the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
    const child = this.child
    if (!child || !this.running) return
    const exited = once(child, 'exit')
    child.kill(signal)
    await exited
  }

  /** Deletes the data directory's contents: the next `restart` comes up empty. */
  wipe() {
    if (this.running) throw new Error('stop redis-server before wiping its data')
    rmSync(this.dir, { recursive: true, force: true })
    mkdirSync(this.dir)
  }

  /** Runs one command on a short-lived connection. */
  async command(name: string, ...args: Array<string | number>): Promise<unknown> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      return await client.call(name, ...args)
    } finally {
      client.disconnect()
    }
  }

  async close() {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}
