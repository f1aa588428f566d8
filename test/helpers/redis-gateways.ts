import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { EventSource } from 'eventsource'
import { StreamService, type SubscribeResponse } from '../../gateway/gen/streamgate/v1/stream_pb.ts'
import { FIXTURE_STREAMS, until } from './gateway.ts'

/**
 * Gateway instances on one Redis as real `streamgate` processes (what a deployment runs, and what `kill -9`
 * needs), and subscribers that mirror a group's state from the frames they receive while checking the two
 * invariants every transport must keep: consecutive sequence numbers after a sync, strictly increasing stamps.
 */

const BIN = new URL('../../bin/streamgate.mjs', import.meta.url).pathname
const processes = new Set<ChildProcess>()

export interface GatewayProcess {
  child: ChildProcess
  url: string
  wsUrl: string
  port: number
  output(): string
  /** Sends the signal and waits for the process to be gone. */
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** Starts `streamgate --streams test/fixtures/streams --port 0 ...args` and resolves with the URL it prints. */
export async function launchGateway(args: string[], env: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [BIN, '--streams', FIXTURE_STREAMS, '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  processes.add(child)
  child.once('exit', () => processes.delete(child))
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const url = await until(
    () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`streamgate exited: ${output}`)
      return /streamgate listening on (http:\/\/[^ ]+)/.exec(output)?.[1]
    },
    'the listening line',
    20_000,
  )
  return {
    child,
    url,
    wsUrl: url.replace('http', 'ws'),
    port: Number(new URL(url).port),
    output: () => output,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill(signal)
      await exited
    },
  }
}

/** Runs `streamgate` expecting it to exit on its own: its exit code and everything it printed. */
export async function runUntilExit(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, '--streams', FIXTURE_STREAMS, '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  processes.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const [code] = await once(child, 'exit')
  processes.delete(child)
  return { code: code as number | null, stdout, stderr }
}

/** SIGKILLs every gateway process a test started and did not stop. */
export async function killGateways() {
  await Promise.all(
    [...processes].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }),
  )
}

export type Item = { id: string } & Record<string, unknown>

/** A Motia frame as the WebSocket and SSE transports send it, with streamgate's log position. */
export interface LogFrame {
  timestamp: number
  streamName: string
  groupId: string
  id?: string
  sequence?: number
  resumeToken?: string
  event: { type: string; data?: unknown; reset?: boolean; event?: { type: string; data: unknown } }
}

/**
 * A group's state as one subscriber sees it. `problems` collects every broken invariant: a change that is not
 * the next sequence number after what the subscriber already has, or whose stamp is not above every earlier one
 * (a sync may repeat the stamp of the last change it reflects).
 */
export class GroupMirror {
  readonly items = new Map<string, Item>()
  readonly problems: string[] = []
  readonly events: unknown[] = []
  readonly kinds: Array<{ kind: string; id?: string; sequence?: number }> = []
  syncs = 0
  resets = 0
  lastSeq: number | undefined
  lastTimestamp = 0

  constructor(readonly name: string) {}

  sync(items: Item[], sequence: number, timestamp: number, reset: boolean) {
    if (timestamp < this.lastTimestamp) this.problems.push(`${this.name}: sync stamped ${timestamp} after ${this.lastTimestamp}`)
    this.lastTimestamp = Math.max(this.lastTimestamp, timestamp)
    this.items.clear()
    for (const item of items) this.items.set(item.id, item)
    this.syncs += 1
    if (reset) this.resets += 1
    this.lastSeq = sequence
    this.kinds.push({ kind: 'sync', sequence })
  }

  change(kind: string, id: string | undefined, data: unknown, sequence: number, timestamp: number) {
    if (this.lastSeq === undefined) this.problems.push(`${this.name}: ${kind} #${sequence} before any sync`)
    else if (sequence !== this.lastSeq + 1) this.problems.push(`${this.name}: ${kind} #${sequence} after #${this.lastSeq}`)
    if (timestamp <= this.lastTimestamp) this.problems.push(`${this.name}: ${kind} #${sequence} stamped ${timestamp} after ${this.lastTimestamp}`)
    this.lastTimestamp = Math.max(this.lastTimestamp, timestamp)
    this.lastSeq = sequence
    this.kinds.push({ kind, id, sequence })
    if (kind === 'create' || kind === 'update') this.items.set(id!, data as Item)
    else if (kind === 'delete') this.items.delete(id!)
    else this.events.push(data)
  }

  /** Applies a WebSocket or SSE frame (error frames, which carry no sequence, are recorded as problems). */
  frame(frame: LogFrame) {
    const { event } = frame
    if (frame.sequence === undefined) return void this.problems.push(`${this.name}: frame without a sequence: ${JSON.stringify(frame)}`)
    if (event.type === 'sync') this.sync(event.data as Item[], frame.sequence, frame.timestamp, event.reset === true)
    else if (event.type === 'event') this.change('event', frame.id, event.event, frame.sequence, frame.timestamp)
    else this.change(event.type, frame.id, event.data, frame.sequence, frame.timestamp)
  }

  /** The items sorted by id, to compare with the store's. */
  state(): Item[] {
    return [...this.items.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  sawEvent(predicate: (event: unknown) => boolean) {
    return this.events.some(predicate)
  }
}

/** `eventsource` (which reconnects by itself, sending Last-Event-ID) following one group. */
export function sseFollower(url: string, name: string, lastEventId?: string) {
  const mirror = new GroupMirror(name)
  const ids: string[] = []
  let opens = 0
  const source = new EventSource(url, {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers as Record<string, string> | undefined)
      if (lastEventId && !headers.has('last-event-id')) headers.set('last-event-id', lastEventId)
      return fetch(input, { ...init, headers })
    },
  })
  source.addEventListener('open', () => (opens += 1))
  source.addEventListener('message', (event) => {
    ids.push(event.lastEventId)
    mirror.frame(JSON.parse(event.data) as LogFrame)
  })
  return {
    mirror,
    ids,
    source,
    get opens() {
      return opens
    },
    close: () => source.close(),
  }
}

/** A gRPC (HTTP/2) subscriber through connect-node, mirroring the group from protobuf events. */
export function grpcFollower(baseUrl: string, streamName: string, groupId: string, name: string) {
  const mirror = new GroupMirror(name)
  const controller = new AbortController()
  const client = createClient(StreamService, createGrpcTransport({ baseUrl }))
  let error: ConnectError | undefined
  const apply = (response: SubscribeResponse) => {
    const sequence = Number(response.sequence)
    const timestamp = Number(response.timestamp)
    const { case: kind, value } = response.event
    if (kind === 'sync') mirror.sync(value.items as Item[], sequence, timestamp, value.reset)
    else if (kind === 'custom') mirror.change('event', response.id || undefined, { type: value.type }, sequence, timestamp)
    else if (kind) mirror.change(kind, response.id, value.item, sequence, timestamp)
  }
  const done = (async () => {
    try {
      for await (const response of client.subscribe({ streamName, groupId }, { signal: controller.signal })) apply(response)
    } catch (e) {
      const failure = ConnectError.from(e)
      if (failure.code !== Code.Canceled) error = failure
    }
  })()
  return {
    mirror,
    get error() {
      return error
    },
    async close() {
      controller.abort()
      await done
    },
  }
}
