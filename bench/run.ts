import { mkdirSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { sleep } from './lib/clock.ts'
import type { FlowJob, FlowResult, IdleResult, Mode, PausedJob, PausedResult, SlowJob, SlowReadersResult, SlowResult, StormResult, SubscribersResult, Transport, WriterJob, WriterResult } from './lib/jobs.ts'
import { LoadgenProcess } from './lib/loadgen-process.ts'
import { cpuWindow, listenDrops, machineInfo, memory } from './lib/proc.ts'
import { type CaseRecord, type RunRecord, writeReports } from './lib/report.ts'
import {
  CROSS_INSTANCE,
  REPO,
  type RunningServer,
  type ServerKind,
  serverKind,
  type StartOptions,
  startServer,
  STORE_KINDS,
  type StoreKind,
  streamgateHasConnect,
  streamgateHasGrpc,
  SYSTEM_NAMES,
  type SystemName,
  TMP,
} from './lib/systems.ts'

/**
 * The benchmark orchestrator: starts every system under test and the load generators as processes of their
 * own, runs the scenarios side by side, checks correctness, and writes bench/results/<timestamp>.json,
 * bench/results/latest.md and one SVG chart per scenario. See bench/README.md.
 */

const USAGE = `Usage: node --import tsx bench/run.ts [flags]

  --scenario LIST     fanout,groups,idle,storm,writes,slow (default: all)
  --transport LIST    ws,sse,grpc (default: all that apply)
  --system LIST       raw,motia,grpc-js,streamgate,streamgate-redis,streamgate-cluster (default: all but
                      grpc-js; grpc-js = a plain @grpc/grpc-js broadcaster, gRPC only; streamgate-redis = two
                      streamgate processes on a harness-started redis-server, subscribers on B, writes to A;
                      streamgate-cluster = the same on a harness-started Redis Cluster of three masters:
                      WebSocket fan-out and groups only)
  --n LIST            subscribers for fanout and groups (quick: 100,1000 over WebSocket, 1000 otherwise;
                      --full: 100,1000,5000)
  --mode LIST         saturation,fixed (default: both)
  --duration S        measured seconds per case (quick: 2, --full: 5)
  --warmup S          seconds before measuring (quick: 0.5, --full: 1)
  --rate R            writes/s in fixed mode; default: 20000/N for fanout (20k deliveries/s), 1000 for groups
  --lanes L           items written in turn (fanout), connections of the writer (default 16)
  --window W          saturation: records per lane written ahead of full delivery (default 16; at most
                      ~250,000 frames in flight in all)
  --repeat R          run each fanout/groups case R times, systems interleaved; tables show the best
                      (quick: 1)
  --idle-c C          idle connections (default 10000)
  --idle-groups G     shared (one group, default) or own (a group per connection)
  --storm-c C         clients in the reconnect storm (default 10000)
  --storm-items K     items in the group each re-sync carries (default 10)
  --storm-delay MS    delay before the clients come back (default 2000, Motia's client)
  --storm-spread MS   0: all reconnect at once (default); else spread over MS
  --writes-subs LIST  subscribers during the writes scenario (default 0,1000)
  --writes-api LIST   rest,rest-if-match,inproc,connect,grpc,motia (default: all; connect/grpc when
                      streamgate has them; rest-if-match: REST with If-Match and an Idempotency-Key)
  --writes-rate R     writes/s for the fixed-rate write latency (default 25: with 1,000 subscribers
                      25,000 deliveries/s, below every system's fan-out saturation; measured over >= 12 s)
  --writes-store LIST streamgate's store in the writes scenario: memory,durable,durable-fsync (default:
                      memory; durable = --data-dir in bench/.tmp, durable-fsync = with --fsync)
  --writes-lanes L    writes in flight at saturation (connections, or in-process concurrent writers;
                      default 8; the durable store's goal is stated at 1000)
  --slow-k K          slow: readers that stop reading (default 10 of --n, default 1000)
  --slow-rate R       slow: writes/s over the 16 lanes (default 200)
  --slow-item-bytes B slow: bytes of JSON per item (default 1024: a paused reader's kernel buffers, ~4 MB
                      on loopback here, fill in ~17 s at 200/s)
  --slow-duration S   slow: measured seconds; the readers pause when it starts (default 25)
  --conflate-bytes N  slow: the gateway's --conflate-bytes (default 262144: above what one delivery round
                      holds for a reader that keeps up, or it is conflated too)
  --max-queue-bytes N slow: the gateway's --max-queue-bytes (default 524288)
  --src-addrs K       spread client connections over 127.0.0.2..(K+1) (default 1: 127.0.0.1)
  --quiet-wait S      before each case, wait up to S seconds for the machine to be quiet (< 25 % busy
                      over 1 s; other people's work), then run anyway (default 0: do not wait)
  --cpu-prof          run streamgate under node --cpu-prof (profiles in bench/.tmp/prof, summary printed)
  --full              the full matrix (N up to 5000, longer windows)
  --out DIR           results directory (default bench/results)
  --help
`

const { values: flags } = parseArgs({
  options: {
    scenario: { type: 'string' },
    transport: { type: 'string' },
    system: { type: 'string' },
    n: { type: 'string' },
    mode: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rate: { type: 'string' },
    lanes: { type: 'string' },
    window: { type: 'string' },
    repeat: { type: 'string' },
    'idle-c': { type: 'string' },
    'idle-groups': { type: 'string' },
    'storm-c': { type: 'string' },
    'storm-items': { type: 'string' },
    'storm-delay': { type: 'string' },
    'storm-spread': { type: 'string' },
    'writes-subs': { type: 'string' },
    'writes-api': { type: 'string' },
    'writes-rate': { type: 'string' },
    'writes-store': { type: 'string' },
    'writes-lanes': { type: 'string' },
    'slow-k': { type: 'string' },
    'slow-rate': { type: 'string' },
    'slow-item-bytes': { type: 'string' },
    'slow-duration': { type: 'string' },
    'conflate-bytes': { type: 'string' },
    'max-queue-bytes': { type: 'string' },
    'src-addrs': { type: 'string' },
    'quiet-wait': { type: 'string' },
    'cpu-prof': { type: 'boolean' },
    full: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  },
})
if (flags.help) {
  console.log(USAGE)
  process.exit(0)
}

const list = <T extends string>(value: string | undefined, fallback: T[], allowed: readonly T[]): T[] => {
  const items = value ? (value.split(',').map((s) => s.trim()).filter(Boolean) as T[]) : fallback
  for (const item of items) if (!allowed.includes(item)) throw new Error(`unknown value "${item}" (allowed: ${allowed.join(', ')})`)
  return items
}
const numbers = (value: string | undefined, fallback: number[]) => (value ? value.split(',').map((s) => Number(s.trim())) : fallback)
const num = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value))

const full = flags.full ?? false
const SCENARIOS = ['fanout', 'groups', 'idle', 'storm', 'writes', 'slow'] as const
const plan = {
  scenarios: list(flags.scenario, [...SCENARIOS], SCENARIOS),
  transports: list<Transport>(flags.transport, ['ws', 'sse', 'grpc'], ['ws', 'sse', 'grpc']),
  // grpc-js only when asked for: at saturation it falls behind by more than the harness waits for.
  systems: list<SystemName>(flags.system, SYSTEM_NAMES.filter((s) => s !== 'grpc-js'), SYSTEM_NAMES),
  ns: numbers(flags.n, full ? [100, 1000, 5000] : [100, 1000]),
  modes: list<Mode>(flags.mode, ['saturation', 'fixed'], ['saturation', 'fixed']),
  durationMs: num(flags.duration, full ? 5 : 2) * 1000,
  warmupMs: num(flags.warmup, full ? 1 : 0.5) * 1000,
  rate: flags.rate === undefined || flags.rate === 'auto' ? undefined : Number(flags.rate),
  lanes: num(flags.lanes, 16),
  window: num(flags.window, 16),
  repeat: num(flags.repeat, 1),
  idleC: num(flags['idle-c'], 10_000),
  idleOwnGroups: flags['idle-groups'] === 'own',
  stormC: num(flags['storm-c'], 10_000),
  stormItems: num(flags['storm-items'], 10),
  stormDelayMs: num(flags['storm-delay'], 2000),
  stormSpreadMs: num(flags['storm-spread'], 0),
  writesSubs: numbers(flags['writes-subs'], [0, 1000]),
  writesApis: list(flags['writes-api'], ['rest', 'rest-if-match', 'inproc', 'connect', 'grpc', 'motia'], ['rest', 'rest-if-match', 'inproc', 'connect', 'grpc', 'motia'] as const),
  writesRate: num(flags['writes-rate'], 25),
  writesStores: list<StoreKind>(flags['writes-store'], ['memory'], STORE_KINDS),
  writesLanes: num(flags['writes-lanes'], 8),
  slowK: num(flags['slow-k'], 10),
  slowRate: num(flags['slow-rate'], 200),
  slowItemBytes: num(flags['slow-item-bytes'], 1024),
  slowDurationMs: num(flags['slow-duration'], 25) * 1000,
  conflateBytes: num(flags['conflate-bytes'], 262_144),
  maxQueueBytes: num(flags['max-queue-bytes'], 524_288),
  srcAddrs: num(flags['src-addrs'], 1),
  quietWaitS: num(flags['quiet-wait'], 0),
  cpuProf: flags['cpu-prof'] ?? false,
  out: flags.out ?? `${REPO}bench/results`,
}
// Groups and idle/storm only make sense on some transports; grpc idle runs only when asked for explicitly in
// the quick run (it is in --full).
// The quick run (the default) keeps to a few minutes: fan-out at N = 100 and 1,000 over WebSocket, N = 1,000
// over SSE and gRPC (gRPC at saturation only); --full runs every combination.
const fanoutNs = (transport: Transport) => (flags.n || full ? plan.ns : transport === 'ws' ? [100, 1000] : [1000])
const fanoutModes = (transport: Transport) => (flags.mode || full || transport !== 'grpc' ? plan.modes : (['saturation'] as Mode[]))
const groupsTransports = flags.transport ? plan.transports : full ? (['ws', 'sse'] as Transport[]) : (['ws'] as Transport[])
const groupsNs = flags.n ? plan.ns : full ? [100, 1000, 5000] : [1000]
const groupsModes = flags.mode ? plan.modes : full ? plan.modes : (['saturation'] as Mode[])
const idleTransports = flags.transport ? plan.transports : full ? plan.transports : (['ws', 'sse'] as Transport[])
const slowNs = flags.n ? plan.ns : [1000]
const stormTransports = flags.transport ? plan.transports.filter((t) => t !== 'grpc') : (['ws'] as Transport[])

const profDir = `${TMP}prof`
if (plan.cpuProf) mkdirSync(profDir, { recursive: true })
const startOptions = (kind: ServerKind) => (plan.cpuProf && kind.startsWith('streamgate') ? { cpuProfDir: profDir } : {})

const cases: CaseRecord[] = []
let caseCounter = 0
const nextCaseId = () => `c${Date.now().toString(36)}${(++caseCounter).toString(36)}`
const started = new Date()
const runStart = performance.now()

function log(message: string) {
  const elapsed = ((performance.now() - runStart) / 1000).toFixed(0).padStart(4)
  console.log(`[${elapsed}s] ${message}`)
}

const record = (c: CaseRecord) => {
  cases.push(c)
  const r = c.result as Partial<FlowResult> | undefined
  const summary = c.unavailable
    ? `not available: ${c.unavailable}`
    : c.error
      ? `ERROR ${c.error.split('\n')[0]}`
      : [
          r?.deliveredPerSec !== undefined ? `${r.deliveredPerSec.toLocaleString('en')} msg/s` : '',
          r?.latency ? `p99 ${r.latency.p99} ms` : '',
          c.metrics ? Object.entries(c.metrics).map(([k, v]) => `${k}=${v}`).join(' ') : '',
          c.ok ? '' : `CORRECTNESS FAILED ${JSON.stringify(c.correctness)}`,
        ]
          .filter(Boolean)
          .join(', ')
  log(`${c.scenario} ${c.transport ?? ''} ${c.system} ${c.label}: ${summary}`)
}

const correctnessOk = (c: { lost: number; duplicated: number; outOfOrder: number; misrouted: number; badSyncs: number; writeErrors: number; stalls: number }) =>
  c.lost + c.duplicated + c.outOfOrder + c.misrouted + c.badSyncs + c.writeErrors + c.stalls === 0

/** With --quiet-wait: waits (bounded) until the machine is < 25 % busy; returns the busy % seen last. */
async function waitQuiet(): Promise<number | undefined> {
  if (plan.quietWaitS <= 0) return undefined
  const deadline = performance.now() + plan.quietWaitS * 1000
  let busy = 100
  for (;;) {
    const window = cpuWindow([])
    window.start()
    await sleep(1000)
    busy = window.stop().machineBusyPct
    if (busy < 25 || performance.now() > deadline) return busy
  }
}

/** Median RSS of a few samples over `ms`. */
async function settledRss(pid: number, ms = 1000, samples = 5): Promise<number> {
  const values: number[] = []
  for (let i = 0; i < samples; i++) {
    values.push(memory(pid)?.rssKiB ?? 0)
    await sleep(ms / samples)
  }
  values.sort((a, b) => a - b)
  return values[Math.floor(values.length / 2)]!
}

async function withServers<T>(kinds: ServerKind[], body: (servers: Map<ServerKind, RunningServer>) => Promise<T>, options: Pick<StartOptions, 'store' | 'args'> = {}): Promise<T> {
  const servers = new Map<ServerKind, RunningServer>()
  try {
    for (const kind of kinds) if (!servers.has(kind)) servers.set(kind, await startServer(kind, { ...startOptions(kind), ...options }))
    return await body(servers)
  } finally {
    for (const server of servers.values()) await server.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------
// fan-out and many groups

async function flowCase(scenario: 'fanout' | 'groups', transport: Transport, system: SystemName, server: RunningServer, n: number, mode: Mode, repeat: number) {
  const rate = plan.rate ?? (scenario === 'fanout' ? Math.max(1, Math.round(20_000 / n)) : 1000)
  // At most ~250,000 frames (~75 MB) written ahead of delivery, whatever N.
  const ahead = Math.min(plan.window, Math.max(1, Math.floor(250_000 / (n * plan.lanes))))
  const job: FlowJob = {
    kind: scenario,
    caseId: nextCaseId(),
    subscribe: { transport, host: server.host, port: server.port, srcAddrs: plan.srcAddrs },
    write: server.write,
    n,
    mode,
    rate,
    lanes: plan.lanes,
    window: ahead,
    warmupMs: plan.warmupMs,
    durationMs: plan.durationMs,
  }
  const base: Omit<CaseRecord, 'ok'> = { scenario, transport, system, n, mode, repeat, label: `N=${n} ${mode}${mode === 'fixed' ? ` ${rate}/s` : ''}${plan.repeat > 1 ? ` #${repeat + 1}` : ''}`, params: { rate, lanes: plan.lanes, window: ahead, durationMs: plan.durationMs } }
  let window: ReturnType<typeof cpuWindow> | undefined
  let measured: ReturnType<ReturnType<typeof cpuWindow>['stop']> | undefined
  let rssKiB = 0
  try {
    const busyBefore = await waitQuiet()
    if (busyBefore !== undefined) base.params = { ...base.params, busyBeforePct: busyBefore }
    const loadgen = new LoadgenProcess<FlowResult>(job, (mark, lg) => {
      if (mark === 'window-start') {
        window = cpuWindow([server.pid, lg.pid, ...(server.otherPids ?? [])])
        window.start()
      } else if (mark === 'window-end' && window) {
        measured = window.stop()
        // A system of several processes (cross-instance): their CPU and RSS summed into "server".
        rssKiB = [server.pid, ...(server.otherPids ?? [])].reduce((sum, pid) => sum + (memory(pid)?.rssKiB ?? 0), 0)
      }
    })
    const result = await loadgen.result
    const ok = correctnessOk(result.correctness)
    record({
      ...base,
      ok,
      result,
      correctness: result.correctness,
      server: { cpuPct: measured ? Math.round((measured.procs[0]! + measured.procs.slice(2).reduce((a, b) => a + b, 0)) * 10) / 10 : 0, rssKiB },
      loadgen: { cpuPct: result.loadgenCpu.pct },
      machineBusyPct: measured?.machineBusyPct ?? 0,
    })
  } catch (error) {
    record({ ...base, ok: false, error: (error as Error).message })
  }
}

async function flowScenario(scenario: 'fanout' | 'groups') {
  const transports = scenario === 'fanout' ? plan.transports : groupsTransports
  for (const transport of transports) {
    const ns = scenario === 'fanout' ? fanoutNs(transport) : groupsNs
    const modes = scenario === 'fanout' ? fanoutModes(transport) : groupsModes
    const systems = plan.systems.filter((s) => serverKind(s, transport) !== null)
    const kinds = systems.map((s) => serverKind(s, transport)!)
    await withServers(kinds, async (servers) => {
      const unavailable = new Map<SystemName, string>()
      if (transport === 'grpc' && servers.has('streamgate') && !(await streamgateHasGrpc(servers.get('streamgate')!.port))) {
        unavailable.set('streamgate', 'gateway/transports/connect does not serve gRPC yet')
      }
      for (const n of ns) {
        for (const mode of modes) {
          // Systems side by side for each N and mode (and each repeat), so their ratios come from the same
          // minutes of a shared, noisy machine.
          for (let repeat = 0; repeat < plan.repeat; repeat++) {
            for (const system of systems) {
              if (unavailable.has(system)) {
                if (repeat === 0) record({ scenario, transport, system, n, mode, label: `N=${n} ${mode}`, ok: true, unavailable: unavailable.get(system)! })
                continue
              }
              await flowCase(scenario, transport, system, servers.get(serverKind(system, transport)!)!, n, mode, repeat)
            }
          }
        }
      }
    })
  }
}

// ---------------------------------------------------------------------------------------------------------
// idle connections: memory per connection

async function idleCase(transport: Transport, system: SystemName) {
  const kind = serverKind(system, transport)
  if (!kind || CROSS_INSTANCE.includes(system)) return
  const c = plan.idleC
  const base = { scenario: 'idle' as const, transport, system, n: c, label: `C=${c} ${plan.idleOwnGroups ? 'own groups' : 'one group'}` }
  try {
    await withServers([kind], async (servers) => {
      const server = servers.get(kind)!
      if (transport === 'grpc' && system === 'streamgate' && !(await streamgateHasGrpc(server.port))) {
        record({ ...base, ok: true, unavailable: 'gateway/transports/connect does not serve gRPC yet' })
        return
      }
      const subscribe = { transport, host: server.host, port: server.port, srcAddrs: plan.srcAddrs }
      // Warm-up: a few connections first, so lazily loaded code and first-use allocations are in the baseline.
      const warm = new LoadgenProcess<IdleResult>({ kind: 'idle', caseId: nextCaseId(), subscribe, c: 100, ownGroups: plan.idleOwnGroups }, (mark, lg) => {
        if (mark === 'ready') lg.send({ type: 'continue' })
      })
      await warm.result
      await sleep(1000)
      await waitQuiet()
      const before = await settledRss(server.pid)
      let after = 0
      let hwm = 0
      const loadgen = new LoadgenProcess<IdleResult>({ kind: 'idle', caseId: nextCaseId(), subscribe, c, ownGroups: plan.idleOwnGroups }, async (mark, lg) => {
        if (mark !== 'ready') return
        await sleep(1500)
        after = await settledRss(server.pid)
        hwm = memory(server.pid)?.hwmKiB ?? 0
        lg.send({ type: 'continue' })
      })
      const result = await loadgen.result
      const perConnKiB = Math.round(((after - before) / result.connected) * 100) / 100
      record({
        ...base,
        ok: result.failed === 0,
        result,
        metrics: { rssBeforeMiB: mib(before), rssAfterMiB: mib(after), perConnKiB, connectMs: result.connectMs },
        server: { cpuPct: 0, rssKiB: after, hwmKiB: hwm },
      })
    })
  } catch (error) {
    record({ ...base, ok: false, error: (error as Error).message })
  }
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10

// ---------------------------------------------------------------------------------------------------------
// reconnect storm

async function stormCase(transport: Transport, system: SystemName) {
  const kind = serverKind(system, transport)
  if (!kind || CROSS_INSTANCE.includes(system)) return
  const c = plan.stormC
  const base = { scenario: 'storm' as const, transport, system, n: c, label: `C=${c}, ${plan.stormItems} items, back after ${plan.stormDelayMs} ms` }
  try {
    await withServers([kind], async (server0) => {
      const server = server0.get(kind)!
      let idle = 0
      let peak = 0
      let after = 0
      let after3 = 0
      let sampling = false
      let drops0 = listenDrops()
      let drops = { overflows: 0, drops: 0 }
      const sampler = async () => {
        while (sampling) {
          peak = Math.max(peak, memory(server.pid)?.rssKiB ?? 0)
          await sleep(50)
        }
      }
      let window: ReturnType<typeof cpuWindow> | undefined
      let serverCpu = 0
      await waitQuiet()
      const loadgen = new LoadgenProcess<StormResult>(
        {
          kind: 'storm',
          caseId: nextCaseId(),
          subscribe: { transport, host: server.host, port: server.port, srcAddrs: plan.srcAddrs },
          write: server.write,
          c,
          items: plan.stormItems,
          delayMs: plan.stormDelayMs,
          spreadMs: plan.stormSpreadMs,
        },
        async (mark, lg) => {
          if (mark === 'idle') {
            await sleep(1000)
            idle = await settledRss(server.pid)
            sampling = true
            void sampler()
            lg.send({ type: 'continue' })
          } else if (mark === 'storm-start') {
            drops0 = listenDrops()
            window = cpuWindow([server.pid])
            window.start()
          } else if (mark === 'resynced') {
            serverCpu = window?.stop().procs[0] ?? 0
            const d = listenDrops()
            drops = { overflows: d.overflows - drops0.overflows, drops: d.drops - drops0.drops }
            // V8 gives memory back lazily: sample 3 s and 8 s after the last re-sync.
            await sleep(2000)
            sampling = false
            after3 = await settledRss(server.pid)
            await sleep(4000)
            after = await settledRss(server.pid)
            lg.send({ type: 'continue' })
          }
        },
      )
      const result = await loadgen.result
      record({
        ...base,
        ok: result.failed === 0 && result.badSnapshots === 0,
        result,
        correctness: { lost: 0, duplicated: 0, outOfOrder: 0, misrouted: 0, badSyncs: result.badSnapshots + result.failed, writeErrors: 0, stalls: 0 },
        metrics: {
          recoveryMs: result.recoveryMs,
          resyncP50Ms: result.resyncP50Ms,
          resyncP99Ms: result.resyncP99Ms,
          retries: result.retries,
          idleMiB: mib(idle),
          peakMiB: mib(peak),
          after3sMiB: mib(after3),
          afterMiB: mib(after),
          listenOverflows: drops.overflows,
        },
        server: { cpuPct: serverCpu, rssKiB: after, hwmKiB: peak },
        loadgen: { cpuPct: result.loadgenCpu.pct },
      })
    })
  } catch (error) {
    record({ ...base, ok: false, error: (error as Error).message })
  }
}

// ---------------------------------------------------------------------------------------------------------
// writes: Set throughput and latency, with and without subscribers

type WriteApi = (typeof plan.writesApis)[number]

async function writesCase(api: WriteApi, server: RunningServer, subs: number, mode: Mode, store?: StoreKind) {
  const system: SystemName = api === 'motia' ? 'motia' : 'streamgate'
  const caseId = nextCaseId()
  const rate = plan.writesRate
  const lanes = mode === 'fixed' ? 4 : plan.writesLanes
  const base = {
    scenario: 'writes' as const,
    system,
    store,
    api,
    n: subs,
    mode,
    label: `${store ? `${store} ` : ''}${api} ${mode}${mode === 'fixed' ? ` ${rate}/s` : ` ${lanes} in flight`}, ${subs} subscribers`,
    params: { rate, lanes },
  }
  try {
    let subscribers: LoadgenProcess<SubscribersResult> | undefined
    if (subs > 0) {
      let ready: () => void = () => {}
      const isReady = new Promise<void>((resolve) => (ready = resolve))
      subscribers = new LoadgenProcess<SubscribersResult>(
        { kind: 'subscribers', caseId, subscribe: { transport: 'ws', host: server.host, port: server.port, srcAddrs: plan.srcAddrs }, n: subs, lanes },
        (mark) => {
          if (mark === 'ready') ready()
        },
      )
      await Promise.race([isReady, subscribers.result])
    }
    const write =
      api === 'inproc'
        ? { kind: 'inproc' as const, host: server.host, port: server.port }
        : { kind: api === 'motia' ? ('motia' as const) : api, host: server.host, port: server.port }
    // A fixed rate needs >= 12 s for ~300 samples at the default rate: the p99 of 100 is the worst one or
    // two writes, and moved by 2x between runs.
    const durationMs = mode === 'fixed' ? Math.max(plan.durationMs, 12_000) : plan.durationMs
    const job: WriterJob = { kind: 'writer', caseId, write, mode, rate, lanes, warmupMs: plan.warmupMs, durationMs }
    await waitQuiet()
    let window: ReturnType<typeof cpuWindow> | undefined
    let measured: ReturnType<ReturnType<typeof cpuWindow>['stop']> | undefined
    const writer = new LoadgenProcess<WriterResult>(job, (mark, lg) => {
      if (mark === 'window-start') {
        window = cpuWindow([server.pid, lg.pid, ...(subscribers ? [subscribers.pid] : [])])
        window.start()
      } else if (mark === 'window-end' && window) measured = window.stop()
    })
    const result = await writer.result
    let subsResult: SubscribersResult | undefined
    if (subscribers) {
      subscribers.send({ type: 'verify', perKey: result.perKey })
      subsResult = await subscribers.result
    }
    const correctness = subsResult?.correctness ?? { lost: 0, duplicated: 0, outOfOrder: 0, misrouted: 0, badSyncs: 0, writeErrors: 0, stalls: 0 }
    correctness.writeErrors += result.writeErrors
    record({
      ...base,
      ok: correctnessOk(correctness),
      result,
      subscribersResult: subsResult,
      correctness,
      metrics: { setsPerSec: result.writesPerSec, p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p999 },
      server: { cpuPct: measured?.procs[0] ?? 0, rssKiB: memory(server.pid)?.rssKiB ?? 0 },
      loadgen: { cpuPct: measured?.procs[1] ?? result.loadgenCpu.pct, subscribersCpuPct: measured?.procs[2] },
      machineBusyPct: measured?.machineBusyPct ?? 0,
    })
  } catch (error) {
    record({ ...base, ok: false, error: (error as Error).message })
  }
}

/**
 * The quick run measures saturation over REST and in-process only; --full (or --mode) everywhere. In-process
 * writes at saturation with subscribers are left out everywhere: the writer in the gateway's own process
 * issues some 50,000 sets/s, 50 million deliveries a second to 1,000 readers, which no reader keeps up
 * with, so the gateway conflates and then closes them as slow consumers, by design (the slow-reader
 * scenario measures that); the case would measure the readers' end, not the write path.
 */
const writesModeIncluded = (api: WriteApi, mode: Mode, subs: number) =>
  !(api === 'inproc' && mode === 'saturation' && subs > 0) && (full || flags.mode !== undefined || mode === 'fixed' || api === 'rest' || api === 'inproc')

async function writesScenario() {
  const apis = plan.writesApis
  const streamgateApis = apis.filter((a) => a !== 'motia')
  // One gateway per store, so each store's rows come from one process; stores side by side per case would
  // need them all running at once on two cores.
  for (const store of plan.systems.includes('streamgate') && streamgateApis.length > 0 ? plan.writesStores : []) {
    await withServers(
      ['streamgate-inproc'],
      async (servers) => {
        const server = servers.get('streamgate-inproc')!
        const available = new Map<WriteApi, string>()
        if (streamgateApis.includes('connect') && !(await streamgateHasConnect(server.port))) available.set('connect', 'gateway/transports/connect does not serve Connect yet')
        if (streamgateApis.includes('grpc') && !(await streamgateHasGrpc(server.port))) available.set('grpc', 'gateway/transports/connect does not serve gRPC yet')
        for (const subs of plan.writesSubs) {
          for (const mode of plan.modes) {
            for (const api of streamgateApis) {
              if (!writesModeIncluded(api, mode, subs)) continue
              if (available.has(api)) {
                record({ scenario: 'writes', system: 'streamgate', store, api, n: subs, mode, label: `${store} ${api} ${mode}, ${subs} subscribers`, ok: true, unavailable: available.get(api)! })
                continue
              }
              await writesCase(api, server, subs, mode, store)
            }
          }
        }
      },
      { store },
    )
  }
  if (plan.systems.includes('motia') && apis.includes('motia')) {
    await withServers(['motia'], async (servers) => {
      for (const subs of plan.writesSubs) for (const mode of plan.modes) if (writesModeIncluded('motia', mode, subs)) await writesCase('motia', servers.get('motia')!, subs, mode)
    })
  }
}

// ---------------------------------------------------------------------------------------------------------
// slow readers: K of N readers stop reading; the others' rate and latency against the same run with K = 0

async function slowCase(server: RunningServer, n: number, k: number) {
  const caseId = nextCaseId()
  const subscribe = { transport: 'ws' as const, host: server.host, port: server.port, srcAddrs: plan.srcAddrs }
  const job: SlowJob = {
    kind: 'slow',
    caseId,
    subscribe,
    write: server.write,
    n: n - k,
    rate: plan.slowRate,
    lanes: plan.lanes,
    itemBytes: plan.slowItemBytes,
    warmupMs: Math.max(plan.warmupMs, 1000),
    durationMs: plan.slowDurationMs,
  }
  const pausedJob: PausedJob = { kind: 'paused', caseId, subscribe, paused: k, firstIndex: n - k, lanes: plan.lanes, conflateBytes: plan.conflateBytes, maxQueueBytes: plan.maxQueueBytes, durationMs: plan.slowDurationMs }
  const base = {
    scenario: 'slow' as const,
    transport: 'ws' as const,
    system: 'streamgate' as const,
    n,
    mode: 'fixed' as const,
    label: `N=${n}, ${k} paused, ${plan.slowRate}/s`,
    params: { paused: k, rate: plan.slowRate, lanes: plan.lanes, itemBytes: plan.slowItemBytes, conflateBytes: plan.conflateBytes, maxQueueBytes: plan.maxQueueBytes, durationMs: plan.slowDurationMs },
  }
  let pausedLg: LoadgenProcess<PausedResult> | undefined
  try {
    // Server RSS: "before" when the readers pause, "peak" the highest of the samples every 50 ms from then to
    // the end of the case, "after" the median over 1 s once the paused readers are gone.
    const samples: number[] = []
    let sampling = false
    let before = 0
    let after: Promise<number> | undefined
    const sampler = async () => {
      while (sampling) {
        samples.push(memory(server.pid)?.rssKiB ?? 0)
        await sleep(50)
      }
    }
    // The paused readers first (a process of their own), synced before the readers and the writer start.
    let pausedReady: () => void = () => {}
    const ready = new Promise<void>((resolve) => (pausedReady = resolve))
    pausedLg =
      k > 0
        ? new LoadgenProcess<PausedResult>(pausedJob, (mark) => {
            if (mark === 'ready') pausedReady()
            else if (mark === 'paused') {
              before = memory(server.pid)?.rssKiB ?? 0
              sampling = true
              void sampler()
            } else if (mark === 'paused-closed') after = settledRss(server.pid)
          })
        : undefined
    if (pausedLg) await Promise.race([ready, pausedLg.result])
    await waitQuiet()
    let window: ReturnType<typeof cpuWindow> | undefined
    let measured: ReturnType<ReturnType<typeof cpuWindow>['stop']> | undefined
    const readersLg = new LoadgenProcess<SlowReadersResult>(job, (mark, lg) => {
      if (mark === 'window-start') {
        pausedLg?.send({ type: 'continue' })
        window = cpuWindow([server.pid, lg.pid, ...(pausedLg ? [pausedLg.pid] : [])])
        window.start()
      } else if (mark === 'window-end' && window) measured = window.stop()
    })
    const readers = await readersLg.result
    pausedLg?.send({ type: 'verify', perKey: readers.perKey })
    const paused: PausedResult = pausedLg ? await pausedLg.result : { paused: [], probe: null, closesAfterS: [], peakQueuedBytes: 0 }
    sampling = false
    const afterKiB = after ? await after : 0
    const peak = Math.max(before, ...samples)
    const result: SlowResult = { ...readers, ...paused }
    record({
      ...base,
      ok: correctnessOk(result.correctness),
      result,
      correctness: result.correctness,
      metrics: k > 0 ? { rssBeforeMiB: mib(before), rssPeakMiB: mib(peak), rssAfterMiB: mib(afterKiB), closes: result.closesAfterS.length, probeConflated: result.probe?.conflatedFrames ?? 0 } : undefined,
      server: { cpuPct: measured?.procs[0] ?? 0, rssKiB: afterKiB, hwmKiB: peak },
      loadgen: { cpuPct: measured?.procs[1] ?? result.loadgenCpu.pct, subscribersCpuPct: measured?.procs[2] },
      machineBusyPct: measured?.machineBusyPct ?? 0,
    })
  } catch (error) {
    record({ ...base, ok: false, error: (error as Error).message })
  } finally {
    // After a failure of the readers' process it would wait for `verify` in vain.
    pausedLg?.child.kill('SIGKILL')
  }
}

/** streamgate only: the raw peers have no outbound queue to conflate or limit. The run without slow readers first. */
async function slowScenario() {
  if (!plan.systems.includes('streamgate')) return
  const args = ['--conflate-bytes', String(plan.conflateBytes), '--max-queue-bytes', String(plan.maxQueueBytes)]
  for (const n of slowNs) {
    await withServers(
      ['streamgate'],
      async (servers) => {
        const server = servers.get('streamgate')!
        await slowCase(server, n, 0)
        await slowCase(server, n, plan.slowK)
      },
      { args },
    )
  }
}

// ---------------------------------------------------------------------------------------------------------

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'gateway', 'bin'], { cwd: REPO }).toString().trim()
    return dirty ? `${commit} (gateway/ modified)` : commit
  } catch {
    return 'unknown'
  }
}

async function main() {
  const loadBefore = os.loadavg()
  log(`streamgate bench: ${plan.scenarios.join(', ')} on ${os.cpus().length} cores, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)
  for (const scenario of plan.scenarios) {
    log(`--- ${scenario}`)
    if (scenario === 'fanout' || scenario === 'groups') await flowScenario(scenario)
    else if (scenario === 'idle') {
      for (const transport of idleTransports) for (const system of plan.systems) await idleCase(transport, system)
    } else if (scenario === 'storm') {
      for (const transport of stormTransports) for (const system of plan.systems) await stormCase(transport, system)
    } else if (scenario === 'slow') await slowScenario()
    else await writesScenario()
  }
  const run: RunRecord = {
    startedAt: started.toISOString(),
    durationS: Math.round((performance.now() - runStart) / 1000),
    command: `node --import tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    commit: gitCommit(),
    machine: { ...machineInfo(), loadavgBefore: loadBefore.map((l) => Math.round(l * 100) / 100), loadavgAfter: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    plan: { ...plan, out: undefined },
    cases,
  }
  const files = writeReports(run, plan.out)
  log(`wrote ${files.join(', ')}`)
  if (plan.cpuProf) {
    const { summarizeProfiles } = await import('./lib/profile.ts')
    console.log(summarizeProfiles(profDir))
  }
  const failed = cases.filter((c) => !c.ok)
  if (failed.length > 0) {
    console.error(`${failed.length} case(s) failed: ${failed.map((c) => `${c.scenario} ${c.transport ?? ''} ${c.system} ${c.label}`).join('; ')}`)
    process.exit(1)
  }
}

await main()
