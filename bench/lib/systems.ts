import * as grpc from '@grpc/grpc-js'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { originNs, sleep } from './clock.ts'
import type { Transport } from './jobs.ts'
import { loadStreamService } from './proto.ts'
import type { WriteTarget } from './writers.ts'

/**
 * The systems under test, each started by the harness as a process of its own:
 * - streamgate: `node bin/streamgate.mjs --streams bench/streams --port <free>` (or, for the in-process write
 *   rows, bench/peers/streamgate-inproc.ts: the same CLI plus one benchmark route);
 * - motia: the real Motia 0.17 stream server with its memory storage, test/motia-reference/server.mjs (our
 *   harness around `@motiadev/core`, a devDependency);
 * - raw: bench/peers/raw-{ws,sse,grpc}.ts, the ceilings;
 * - grpc-js: bench/peers/grpc-js.ts, a plain @grpc/grpc-js broadcaster (gRPC only), for comparison;
 * - streamgate-redis: a redis-server of the harness's own (free port, no persistence) and two streamgate
 *   processes on it (`--redis`); subscribers connect to B, writes go to A (WebSocket fan-out and groups);
 * - streamgate-cluster: the same two instances on a Redis Cluster of the harness's own (three masters, no
 *   replicas, no persistence, joined by `redis-cli --cluster create`), `--redis` naming its first node.
 */

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const TMP = fileURLToPath(new URL('../.tmp/', import.meta.url))
export const BENCH_STREAMS = fileURLToPath(new URL('../streams/', import.meta.url))
const MOTIA_REF_SCRIPT = fileURLToPath(new URL('../../test/motia-reference/server.mjs', import.meta.url))
const HOST = '127.0.0.1'
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli'
const CLUSTER_MASTERS = 3

export type SystemName = 'streamgate' | 'motia' | 'raw' | 'grpc-js' | 'streamgate-redis' | 'streamgate-cluster'
export const SYSTEM_NAMES: readonly SystemName[] = ['raw', 'motia', 'grpc-js', 'streamgate', 'streamgate-redis', 'streamgate-cluster']
export type ServerKind = 'streamgate' | 'streamgate-inproc' | 'motia' | 'raw-ws' | 'raw-sse' | 'raw-grpc' | 'grpc-js' | 'streamgate-redis' | 'streamgate-cluster'
/** The systems of two streamgate instances on a shared store (cross-instance delivery). */
export const CROSS_INSTANCE: readonly SystemName[] = ['streamgate-redis', 'streamgate-cluster']

export interface RunningServer {
  kind: ServerKind
  pid: number
  host: string
  /** Where subscribers connect. */
  port: number
  /** How the writer writes to it. */
  write: WriteTarget
  /** Further processes of the system (instance A and the redis-servers); their CPU is added to `pid`'s. */
  otherPids?: number[]
  /** Exit gracefully (SIGTERM; profiles get written), SIGKILL after 5 s. */
  stop(): Promise<void>
  exited(): boolean
  log: string
}

/** Where a streamgate process keeps its state: `--memory`, or a fresh `--data-dir` (with `--fsync`). */
export type StoreKind = 'memory' | 'durable' | 'durable-fsync'
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'durable', 'durable-fsync']

export interface StartOptions {
  /** Run the server under `node --cpu-prof`, profiles into this directory. */
  cpuProfDir?: string
  /** streamgate and streamgate-inproc: the store (default memory). */
  store?: StoreKind
  /** streamgate and streamgate-inproc: further flags (the slow-reader scenario's queue limits). */
  args?: string[]
}

/** The flags for a store, and what to remove when the process is gone. */
function storeArgs(store: StoreKind = 'memory'): { args: string[]; dir?: string } {
  if (store === 'memory') return { args: ['--memory'] }
  const dir = `${TMP}data-${process.pid}-${++started}`
  return { args: ['--data-dir', dir, ...(store === 'durable-fsync' ? ['--fsync'] : [])], dir }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

let started = 0

async function launch(kind: ServerKind | 'redis-server', args: string[], env: Record<string, string>, ready: RegExp, options: StartOptions, command = process.execPath) {
  mkdirSync(`${TMP}logs`, { recursive: true })
  const log = `${TMP}logs/${kind}-${process.pid}-${++started}.log`
  const out = createWriteStream(log)
  // One directory per server process: node writes one profile per thread (tsx's loader runs in a worker).
  const prof = options.cpuProfDir && command === process.execPath ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}/${kind}-${Date.now()}`] : []
  const child = spawn(command, [...prof, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env, BENCH_ORIGIN_NS: originNs() },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true
      live.delete(child)
      resolve()
    }),
  )
  let output = ''
  const onData = (chunk: Buffer) => {
    if (output.length < 100_000) output += chunk.toString()
    out.write(chunk)
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const deadline = Date.now() + 30_000
  let match: RegExpExecArray | null = null
  while (!(match = ready.exec(output))) {
    if (exited) throw new Error(`${kind} exited before it was ready:\n${output.slice(-3000)}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${kind} was not ready within 30 s:\n${output.slice(-3000)}`)
    }
    await sleep(20)
  }
  const stop = async () => {
    if (exited) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exit
    clearTimeout(timer)
    out.end()
  }
  return { child, match, stop, exited: () => exited, log }
}

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return await startOn(kind, port, options)
    } catch (error) {
      if (attempt >= 3 || !String((error as Error).message).includes('EADDRINUSE')) throw error
    }
  }
}

async function startOn(kind: ServerKind, port: number, options: StartOptions): Promise<RunningServer> {
  const base = { kind, host: HOST, port }
  switch (kind) {
    case 'streamgate':
    case 'streamgate-inproc': {
      // STREAMGATE_ROOT=<checkout> benchmarks another working tree (e.g. a branch with a proposed change);
      // bench/peers/streamgate-inproc.ts reads it too.
      const root = process.env.STREAMGATE_ROOT ? `${process.env.STREAMGATE_ROOT.replace(/\/$/, '')}/` : ''
      const entry = kind === 'streamgate' ? [`${root}bin/streamgate.mjs`] : ['--import', 'tsx', 'bench/peers/streamgate-inproc.ts']
      const store = storeArgs(options.store)
      const removeData = () => store.dir && rmSync(store.dir, { recursive: true, force: true })
      try {
        const p = await launch(kind, [...entry, '--streams', BENCH_STREAMS, '--port', String(port), '--host', HOST, '--log-level', 'info', ...store.args, ...(options.args ?? [])], {}, /streamgate listening on/, options)
        const stop = async () => {
          await p.stop()
          removeData()
        }
        return { ...base, pid: p.child.pid!, write: { kind: 'rest', host: HOST, port }, stop, exited: p.exited, log: p.log }
      } catch (error) {
        removeData()
        throw error
      }
    }
    case 'streamgate-redis':
    case 'streamgate-cluster': {
      // Own redis-server(s) (never the machine's 6379), then instance A (writes) and B (subscribers) on them.
      const root = process.env.STREAMGATE_ROOT ? `${process.env.STREAMGATE_ROOT.replace(/\/$/, '')}/` : ''
      const redis = await startRedis(kind === 'streamgate-cluster' ? CLUSTER_MASTERS : 0)
      const stops: Array<() => Promise<void>> = [redis.stop]
      const stopAll = async () => {
        for (const stop of [...stops].reverse()) await stop()
      }
      try {
        const instance = (p: number) =>
          launch(kind, [`${root}bin/streamgate.mjs`, '--streams', BENCH_STREAMS, '--port', String(p), '--host', HOST, '--log-level', 'info', '--redis', redis.url, '--redis-prefix', 'bench:'], {}, /streamgate listening on/, options)
        const writePort = await freePort()
        const a = await instance(writePort)
        stops.push(a.stop)
        const b = await instance(port)
        stops.push(b.stop)
        const exited = () => a.exited() || b.exited() || redis.exited()
        return { ...base, pid: b.child.pid!, otherPids: [a.child.pid!, ...redis.pids], write: { kind: 'rest', host: HOST, port: writePort }, stop: stopAll, exited, log: b.log }
      } catch (error) {
        await stopAll()
        throw error
      }
    }
    case 'motia': {
      const p = await launch(kind, [MOTIA_REF_SCRIPT], { PORT: String(port), STREAMS: 'bench' }, /motia reference stream server on/, options)
      return { ...base, pid: p.child.pid!, write: { kind: 'motia', host: HOST, port }, stop: p.stop, exited: p.exited, log: p.log }
    }
    case 'raw-ws':
    case 'raw-sse': {
      const p = await launch(kind, ['--import', 'tsx', `bench/peers/${kind}.ts`], { PORT: String(port) }, /listening on (\d+)/, options)
      return { ...base, pid: p.child.pid!, write: { kind: 'raw', host: HOST, port }, stop: p.stop, exited: p.exited, log: p.log }
    }
    case 'raw-grpc':
    case 'grpc-js': {
      const writePort = await freePort()
      const p = await launch(kind, ['--import', 'tsx', `bench/peers/${kind}.ts`], { PORT: String(port), WRITE_PORT: String(writePort) }, /listening on (\d+) writes on (\d+)/, options)
      return { ...base, pid: p.child.pid!, write: { kind: 'raw', host: HOST, port: writePort }, stop: p.stop, exited: p.exited, log: p.log }
    }
  }
}

/** One redis-server (`masters` 0), or a cluster of `masters` joined by redis-cli; no persistence either way. */
async function startRedis(masters: number) {
  const servers: Array<Awaited<ReturnType<typeof launch>>> = []
  const ports: number[] = []
  const dirs: string[] = []
  const stop = async () => {
    for (const server of servers) await server.stop()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < Math.max(1, masters); i++) {
      const port = await freePort()
      const dir = `${TMP}redis-${process.pid}-${port}`
      mkdirSync(dir, { recursive: true })
      dirs.push(dir)
      const cluster = masters > 0 ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--dir', dir] : []
      servers.push(await launch('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', ...cluster], {}, /Ready to accept connections/, {}, REDIS_SERVER))
      ports.push(port)
    }
    if (masters > 0) {
      execFileSync(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' })
      const deadline = Date.now() + 30_000
      while (!ports.every((p) => execFileSync(REDIS_CLI, ['-p', String(p), 'cluster', 'info']).toString().includes('cluster_state:ok'))) {
        if (Date.now() > deadline) throw new Error('the benchmark Redis Cluster did not reach cluster_state:ok in 30 s')
        await sleep(100)
      }
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { url: `redis://${HOST}:${ports[0]}`, pids: servers.map((s) => s.child.pid!), stop, exited: () => servers.some((s) => s.exited()) }
}

/** Which server process plays `system` for `transport`. */
export function serverKind(system: SystemName, transport: Transport): ServerKind | null {
  if (system === 'raw') return transport === 'ws' ? 'raw-ws' : transport === 'sse' ? 'raw-sse' : 'raw-grpc'
  if (system === 'motia') return transport === 'ws' ? 'motia' : null
  if (system === 'grpc-js') return transport === 'grpc' ? 'grpc-js' : null
  if (CROSS_INSTANCE.includes(system)) return transport === 'ws' ? (system as ServerKind) : null
  return 'streamgate'
}

/** Does this streamgate serve gRPC (the Connect transport, gateway/transports/connect)? */
export async function streamgateHasGrpc(port: number): Promise<boolean> {
  if (!existsSync(`${REPO}gateway/transports/connect`)) return false
  const Client = grpc.makeGenericClientConstructor(loadStreamService(), 'StreamService')
  const client = new Client(`${HOST}:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    ListStreams(request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void): void
  }
  try {
    return await new Promise<boolean>((resolve) => client.ListStreams({}, { deadline: Date.now() + 3000 }, (error) => resolve(!error)))
  } finally {
    client.close()
  }
}

/** Does this streamgate serve Connect (unary JSON over HTTP/1.1)? */
export async function streamgateHasConnect(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${HOST}:${port}/streamgate.v1.StreamService/ListStreams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(3000),
    })
    await response.arrayBuffer()
    return response.ok
  } catch {
    return false
  }
}
