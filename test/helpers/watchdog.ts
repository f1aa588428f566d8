import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { GatewayProcess } from './gateway-process.ts'
import { until } from './gateway.ts'

const POLLER = new URL('./watchdog-poller.mjs', import.meta.url).pathname

/** The contract: /healthz answers other clients within 100 ms, whatever a peer does (design.md). */
export const HEALTHZ_BUDGET_MS = 100

interface PollerLine {
  kind: 'started' | 'slow' | 'status' | 'closed' | 'synced' | 'summary'
  request?: number
  /** How long the gateway's event loop ran while the answer waited. */
  ms?: number
  wallMs?: number
  /** The wall time less what the gateway and the poller waited for a CPU. */
  notWaitingMs?: number
  pending?: boolean
  status?: string
  message?: string
  answers?: number
  maxMs?: number
  maxWallMs?: number
  maxNotWaitingMs?: number
}

/**
 * Watches a gateway process while a test attacks it: a poller of its own asks /healthz on its own
 * connection every 20 ms, and the test fails when an answer waits while the gateway's event loop runs for
 * more than 100 ms (what the gateway does to itself, not what this shared machine does to it:
 * test/helpers/watchdog-poller.mjs), when the process logs at error level or on stderr (an uncaught
 * exception), or when it exits.
 */
export class Watchdog {
  private readonly lines: PollerLine[] = []
  /** Problems already reported by an earlier `assertHealthy`, so each is reported once. */
  private readonly reported = new Set<string>()

  private constructor(
    readonly gateway: GatewayProcess,
    private readonly poller: ChildProcess,
  ) {
    createInterface({ input: poller.stdout! }).on('line', (line) => this.lines.push(JSON.parse(line)))
  }

  static async start(gateway: GatewayProcess, intervalMs = 20): Promise<Watchdog> {
    const args = [POLLER, gateway.url, String(intervalMs), String(HEALTHZ_BUDGET_MS), String(gateway.child.pid)]
    const poller = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    const watchdog = new Watchdog(gateway, poller)
    await until(() => watchdog.lines.some((l) => l.kind === 'started'), 'the watchdog poller')
    // The first answers include the JIT warming up the route; the contract is about a running gateway.
    await new Promise((r) => setTimeout(r, 200))
    watchdog.lines.length = 0
    return watchdog
  }

  /** Every problem so far, each with a key that stays the same when it is seen again. */
  private allProblems(): Array<{ key: string; text: string }> {
    const problems: Array<{ key: string; text: string }> = []
    const slow = new Map<number, PollerLine>()
    for (const [i, line] of this.lines.entries()) {
      // A late answer is reported when it is late, and again with its time once it came: one problem.
      if (line.kind === 'slow') slow.set(line.request!, slow.get(line.request!)?.pending === false ? slow.get(line.request!)! : line)
      else if (line.kind === 'status' || line.kind === 'closed') problems.push({ key: `poller ${i}`, text: line.status ?? line.message! })
    }
    for (const [request, line] of slow) {
      if (!line.pending && line.ms! <= HEALTHZ_BUDGET_MS) continue
      const wall = line.wallMs === undefined ? '' : ` (${line.wallMs} ms of wall time, ${line.notWaitingMs} ms of it not waiting for a CPU)`
      problems.push({ key: `slow ${request}`, text: `/healthz waited while the gateway ran for ${line.pending ? 'more than ' : ''}${line.ms} ms${wall}; budget ${HEALTHZ_BUDGET_MS} ms` })
    }
    this.gateway.problems().forEach((text, i) => problems.push({ key: `gateway ${i}`, text }))
    return problems
  }

  problems(): string[] {
    return this.allProblems().map((p) => p.text)
  }

  /** Sends the poller a command and waits for its acknowledgement. */
  private async tell(command: 'sync' | 'pause' | 'resume') {
    const synced = this.lines.filter((l) => l.kind === 'synced').length
    this.poller.stdin!.write(`${command}\n`)
    await until(() => this.lines.filter((l) => l.kind === 'synced').length > synced, `the watchdog poller to ${command}`)
  }

  /**
   * Runs `instrument` without judging /healthz meanwhile: for what a test itself does to the gateway that
   * no peer can (a forced garbage collection stops it for as long as the heap takes).
   */
  async exempt<T>(instrument: () => Promise<T>): Promise<T> {
    await this.tell('pause')
    try {
      return await instrument()
    } finally {
      await this.tell('resume')
    }
  }

  /** Fails with every problem seen since the last call, once the /healthz request in flight is answered. */
  async assertHealthy() {
    await this.tell('sync')
    const fresh = this.allProblems().filter((p) => !this.reported.has(p.key))
    for (const p of fresh) this.reported.add(p.key)
    if (fresh.length > 0) throw new Error(`the gateway was not well:\n${fresh.map((p) => p.text).join('\n')}`)
  }

  /** Stops polling; resolves with how many answers it got and the slowest, by each measure. */
  async stop(): Promise<{ answers: number; maxMs: number; maxWallMs: number; maxNotWaitingMs: number }> {
    this.poller.stdin!.end()
    const summary = await until(() => this.lines.find((l) => l.kind === 'summary'), 'the watchdog summary')
    return { answers: summary.answers!, maxMs: summary.maxMs!, maxWallMs: summary.maxWallMs!, maxNotWaitingMs: summary.maxNotWaitingMs! }
  }
}
