import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import type { Correctness, FlowResult, Mode, SlowResult, Transport, WriterResult } from './jobs.ts'
import type { SystemName } from './systems.ts'
import { barChart, type Series, twoPanelChart } from './svg.ts'

export interface CaseRecord {
  scenario: 'fanout' | 'groups' | 'idle' | 'storm' | 'writes' | 'slow'
  transport?: Transport
  system: SystemName
  /** writes: the API written through. */
  api?: string
  /** writes: streamgate's store (memory, durable, durable-fsync). */
  store?: string
  /** Subscribers (fanout, groups, writes) or connections (idle, storm). */
  n?: number
  mode?: Mode
  /** fanout/groups: which repetition (systems interleaved per repetition). */
  repeat?: number
  label: string
  params?: Record<string, unknown>
  ok: boolean
  unavailable?: string
  error?: string
  result?: unknown
  subscribersResult?: unknown
  correctness?: Correctness
  metrics?: Record<string, number>
  server?: { cpuPct: number; rssKiB: number; hwmKiB?: number }
  loadgen?: { cpuPct: number; subscribersCpuPct?: number }
  machineBusyPct?: number
}

export interface RunRecord {
  startedAt: string
  durationS: number
  command: string
  commit: string
  machine: Record<string, unknown>
  plan: Record<string, unknown>
  cases: CaseRecord[]
}

const SYSTEM_ORDER: SystemName[] = ['raw', 'motia', 'grpc-js', 'streamgate', 'streamgate-redis', 'streamgate-cluster']
const TRANSPORT_NAME: Record<Transport, string> = { ws: 'WebSocket', sse: 'SSE', grpc: 'gRPC' }
const systemName = (system: SystemName, transport?: Transport) =>
  system === 'raw'
    ? transport === 'ws' ? 'raw ws' : transport === 'sse' ? 'raw SSE' : transport === 'grpc' ? 'raw gRPC (node:http2)' : 'raw'
    : system === 'motia' ? 'Motia 0.17' : system === 'grpc-js' ? 'grpc-js broadcaster' : system === 'streamgate-redis' ? 'streamgate (Redis, A→B)' : system === 'streamgate-cluster' ? 'streamgate (Redis Cluster ×3, A→B)' : 'streamgate'

const fmt = (v: number | undefined, digits = 2) => (v === undefined || Number.isNaN(v) ? '–' : v.toLocaleString('en', { maximumFractionDigits: digits }))
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : Math.round((a / b) * 100) / 100)

function correctnessText(c: CaseRecord): string {
  if (c.unavailable) return '–'
  if (c.error) return `**error**: ${c.error.split('\n')[0]!.slice(0, 120)}`
  if (!c.correctness) return c.ok ? 'ok' : '**FAILED**'
  const k = c.correctness
  const bad = Object.entries(k).filter(([, v]) => v > 0)
  return bad.length === 0 ? 'ok' : `**${bad.map(([name, v]) => `${name} ${v}`).join(', ')}**`
}

function find(cases: CaseRecord[], where: Partial<CaseRecord>): CaseRecord | undefined {
  return cases.find((c) => !c.unavailable && !c.error && Object.entries(where).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] === v))
}

interface Target {
  target: string
  measured: string
  ratio?: number
  met: boolean | undefined
}

/** A load generator at this share of a core or more bounds the rate it measures. */
const LOADGEN_BOUND_PCT = 90

function targets(all: CaseRecord[]): Target[] {
  const out: Target[] = []
  const cases = [...bestCases(all), ...all.filter((c) => c.scenario !== 'fanout' && c.scenario !== 'groups')]
  const flowCase = (transport: Transport, system: SystemName, mode: Mode) => find(cases, { scenario: 'fanout', transport, system, n: 1000, mode })
  const flow = (transport: Transport, system: SystemName, mode: Mode) => flowCase(transport, system, mode)?.result as FlowResult | undefined
  for (const transport of ['ws', 'sse', 'grpc'] as Transport[]) {
    const raw = flow(transport, 'raw', 'saturation')
    const sg = flow(transport, 'streamgate', 'saturation')
    const unavailable = cases.find((c) => c.scenario === 'fanout' && c.transport === transport && c.system === 'streamgate' && c.unavailable)
    if (!raw && !sg && !unavailable) continue
    const r = ratio(sg?.deliveredPerSec, raw?.deliveredPerSec)
    const motia = transport === 'ws' ? flow('ws', 'motia', 'saturation') : undefined
    // The saturation loop's writers share a process with the readers: once that process is near a core, the
    // rate is the load generator's, not the server's, and the ratio compares nothing (server CPU per
    // message below still does). It is shown, not judged.
    const loadgenBound = Math.max(...[flowCase(transport, 'raw', 'saturation'), flowCase(transport, 'streamgate', 'saturation')].map((c) => c?.loadgen?.cpuPct ?? 0))
    const judged = loadgenBound < LOADGEN_BOUND_PCT
    out.push({
      target: `${TRANSPORT_NAME[transport]} fan-out, N=1,000, saturation: streamgate ≥ 0.8× ${systemName('raw', transport)} delivered msg/s`,
      measured: unavailable
        ? `not yet available (${unavailable.unavailable}); ${systemName('raw', transport)} ${fmt(raw?.deliveredPerSec, 0)} msg/s`
        : `${fmt(sg?.deliveredPerSec, 0)} vs ${fmt(raw?.deliveredPerSec, 0)} msg/s${motia ? `; Motia ${fmt(motia.deliveredPerSec, 0)} (streamgate ${fmt(ratio(sg?.deliveredPerSec, motia.deliveredPerSec))}× Motia)` : ''}${judged ? '' : `; not judged: the load generator ran at ${fmt(loadgenBound, 0)} % of a core, so the rate is its limit`}`,
      ratio: r,
      met: r === undefined || !judged ? undefined : r >= 0.8,
    })
    // Server CPU per delivered message: the inverse of messages per server CPU-second.
    const sgPerCpu = perCpuSecond(flowCase(transport, 'streamgate', 'saturation'))
    const rawPerCpu = perCpuSecond(flowCase(transport, 'raw', 'saturation'))
    const rc = ratio(rawPerCpu, sgPerCpu)
    if (sgPerCpu !== undefined && rawPerCpu !== undefined) {
      out.push({
        target: `${TRANSPORT_NAME[transport]} fan-out, N=1,000, saturation: server CPU per delivered message ≤ 1.3× ${systemName('raw', transport)}`,
        measured: `${fmt(1e6 / sgPerCpu, 2)} vs ${fmt(1e6 / rawPerCpu, 2)} µs`,
        ratio: rc,
        met: rc === undefined ? undefined : rc <= 1.3,
      })
    }
    const rawF = flow(transport, 'raw', 'fixed')
    const sgF = flow(transport, 'streamgate', 'fixed')
    const rf = ratio(sgF?.latency.p99, rawF?.latency.p99)
    if (rawF && sgF) {
      out.push({ target: `${TRANSPORT_NAME[transport]} fan-out, N=1,000, fixed rate: streamgate p99 ≤ 1.5× ${systemName('raw', transport)}`, measured: `${fmt(sgF.latency.p99)} vs ${fmt(rawF.latency.p99)} ms`, ratio: rf, met: rf === undefined ? undefined : rf <= 1.5 })
    }
  }
  const idle = (transport: Transport, system: SystemName) => find(cases, { scenario: 'idle', transport, system })?.metrics?.perConnKiB
  const idleWs = [idle('ws', 'streamgate'), idle('ws', 'motia')] as const
  if (idleWs[0] !== undefined || idleWs[1] !== undefined) {
    out.push({ target: 'Idle memory per WebSocket connection: streamgate ≤ Motia', measured: `${fmt(idleWs[0])} vs ${fmt(idleWs[1])} KiB`, ratio: ratio(idleWs[0], idleWs[1]), met: idleWs[0] === undefined || idleWs[1] === undefined ? undefined : idleWs[0] <= idleWs[1] })
  }
  const idleSse = [idle('sse', 'streamgate'), idle('sse', 'raw')] as const
  if (idleSse[0] !== undefined || idleSse[1] !== undefined) {
    out.push({ target: 'Idle memory per SSE connection: streamgate ≤ 1.1× raw SSE', measured: `${fmt(idleSse[0])} vs ${fmt(idleSse[1])} KiB`, ratio: ratio(idleSse[0], idleSse[1]), met: idleSse[0] === undefined || idleSse[1] === undefined ? undefined : idleSse[0] <= 1.1 * idleSse[1] })
  }
  const storm = (system: SystemName) => find(cases, { scenario: 'storm', transport: 'ws', system })?.metrics
  const sgStorm = storm('streamgate')
  const rawStorm = storm('raw')
  if (sgStorm || rawStorm) {
    const r = ratio(sgStorm?.recoveryMs, rawStorm?.recoveryMs)
    out.push({ target: 'Storm (WebSocket): streamgate re-synced within 1.2× raw ws', measured: `${fmt(sgStorm?.recoveryMs, 0)} vs ${fmt(rawStorm?.recoveryMs, 0)} ms (Motia ${fmt(storm('motia')?.recoveryMs, 0)} ms)`, ratio: r, met: r === undefined ? undefined : r <= 1.2 })
    if (sgStorm) {
      const back = sgStorm.afterMiB! <= sgStorm.idleMiB! * 1.1
      const others = (['raw', 'motia'] as SystemName[])
        .map((s) => [s, storm(s)] as const)
        .filter(([, k]) => k)
        .map(([s, k]) => `${systemName(s, 'ws')} ${fmt(ratio(k!.afterMiB, k!.idleMiB))}×`)
        .join(', ')
      out.push({
        target: 'Storm: streamgate memory back to its idle level (within 10 %, 8 s after)',
        measured: `idle ${fmt(sgStorm.idleMiB)} MiB, peak ${fmt(sgStorm.peakMiB)}, after ${fmt(sgStorm.afterMiB)}${others ? ` (after/idle: ${others})` : ''}`,
        ratio: ratio(sgStorm.afterMiB, sgStorm.idleMiB),
        met: back,
      })
    }
  }
  const slow = slowPair(cases)
  if (slow) {
    const { without, withSlow, k } = slow
    const rate = ratio(perReader(withSlow), perReader(without))
    const p99 = ratio(withSlow.latency.p99, without.latency.p99)
    const closed = withSlow.paused.filter((p) => p.closeCode === 1013).length
    const counted = withSlow.closesAfterS.length
    const conflated = withSlow.probe?.conflatedFrames ?? 0
    out.push({
      target: `Slow readers: the ${fmt(withSlow.readers)} others keep ≥ 0.9× their rate and p99 ≤ 1.5× of the run without slow readers; the ${k} closed at the hard limit after conflating`,
      measured: `${fmt(perReader(withSlow))} vs ${fmt(perReader(without))} msg/s per reader, p99 ${fmt(withSlow.latency.p99)} vs ${fmt(without.latency.p99)} ms (${fmt(p99)}×); ${counted} of ${k} closed by the server (${closed} saw close 1013); the probe got ${conflated} conflated frames`,
      ratio: rate,
      met: rate === undefined || p99 === undefined ? undefined : rate >= 0.9 && p99 <= 1.5 && counted === k && conflated > 0,
    })
  }
  const apiName = (api: string) => (api === 'inproc' ? 'in-process' : api === 'rest' ? 'REST' : api === 'rest-if-match' ? 'REST with If-Match and Idempotency-Key' : api)
  for (const api of ['rest', 'rest-if-match', 'inproc', 'connect', 'grpc']) {
    for (const subs of [0, 1000]) {
      const sets = (store: string) => (find(cases, { scenario: 'writes', system: 'streamgate', store, api, n: subs, mode: 'saturation' })?.result as WriterResult | undefined)?.writesPerSec
      const memory = sets('memory')
      for (const store of ['durable', 'durable-fsync']) {
        const r = ratio(sets(store), memory)
        if (r === undefined) continue
        const lanes = find(cases, { scenario: 'writes', store, api, n: subs, mode: 'saturation' })?.params?.lanes
        out.push({ target: `Set/s over ${apiName(api)}, ${fmt(subs)} subscribers, ${lanes} in flight: ${store} ≥ 0.8× memory`, measured: `${fmt(sets(store), 0)} vs ${fmt(memory, 0)}`, ratio: r, met: r >= 0.8 })
      }
    }
    const w = (subs: number) => find(cases, { scenario: 'writes', system: 'streamgate', store: 'memory', api, n: subs, mode: 'fixed' })?.result as WriterResult | undefined
    const none = w(0)
    const many = w(1000)
    if (!none && !many) continue
    const r = ratio(many?.latency.p99, none?.latency.p99)
    out.push({ target: `Set p99 over ${apiName(api)}, fixed rate: 1,000 subscribers ≤ 1.5× none`, measured: `${fmt(many?.latency.p99, 3)} vs ${fmt(none?.latency.p99, 3)} ms`, ratio: r, met: r === undefined ? undefined : r <= 1.5 })
  }
  // What the store's version check and idempotency key cost a write (issue 16).
  for (const subs of [0, 1000]) {
    const p99 = (api: string) => (find(cases, { scenario: 'writes', system: 'streamgate', store: 'memory', api, n: subs, mode: 'fixed' })?.result as WriterResult | undefined)?.latency.p99
    const r = ratio(p99('rest-if-match'), p99('rest'))
    if (r === undefined) continue
    out.push({ target: `Set p99 over REST, fixed rate, ${fmt(subs)} subscribers: with If-Match and Idempotency-Key ≤ 1.5× without`, measured: `${fmt(p99('rest-if-match'), 3)} vs ${fmt(p99('rest'), 3)} ms`, ratio: r, met: r <= 1.5 })
  }
  return out
}

/** The slow-reader case and the run without slow readers just before it (same N). */
function slowPair(cases: CaseRecord[]) {
  const withCase = cases.find((c) => c.scenario === 'slow' && c.result && (c.params?.paused as number) > 0)
  const withoutCase = withCase && cases.find((c) => c.scenario === 'slow' && c.result && c.params?.paused === 0 && c.n === withCase.n)
  if (!withCase || !withoutCase) return undefined
  return { withCase, withoutCase, without: withoutCase.result as SlowResult, withSlow: withCase.result as SlowResult, k: withCase.params!.paused as number }
}

const perReader = (r: SlowResult) => Math.round((r.deliveredPerSec / r.readers) * 10) / 10

function slowSection(cases: CaseRecord[], cores: number): string[] {
  const rows = cases.filter((c) => c.scenario === 'slow')
  if (rows.length === 0) return []
  const p = rows[0]!.params ?? {}
  const lines = [
    '## Slow readers, WebSocket (streamgate only)',
    '',
    `N readers on one group; K of them (in a load-generator process of their own) stop reading (their socket paused) when the window opens, so their kernel buffers fill (about 4 MB per connection on loopback here), then their gateway queue. One writer, ${fmt(p.rate as number)} writes/s over 16 lanes, ${fmt(p.itemBytes as number)}-byte items: 8 lanes rewrite one item each (conflatable), 8 create a new item with every write (never merged, so a paused queue keeps growing past the soft limit). Gateway started with \`--conflate-bytes ${p.conflateBytes} --max-queue-bytes ${p.maxQueueBytes}\`; window ${fmt((p.durationMs as number) / 1000)} s. The run without slow readers (K = 0) comes first, on the same gateway. The raw peers have no outbound queue (no conflation, no limit), so they are not measured here.`,
    '',
    '| run | readers | delivered msg/s | per reader msg/s | p50 ms | p99 ms | p99.9 ms | server CPU % | load-gen CPU % | other cores busy | correctness |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const c of rows) {
    const r = c.result as SlowResult | undefined
    lines.push(`| ${c.label} | ${fmt(r?.readers)} | ${fmt(r?.deliveredPerSec, 0)} | ${r ? fmt(perReader(r)) : '–'} | ${fmt(r?.latency.p50)} | ${fmt(r?.latency.p99)} | ${fmt(r?.latency.p999)} | ${fmt(c.server?.cpuPct, 0)} | ${fmt(c.loadgen?.cpuPct, 0)} | ${fmt(otherCores(c, cores))} | ${correctnessText(c)} |`)
  }
  const slow = slowPair(cases)
  if (!slow) return [...lines, '']
  const { withSlow, withCase } = slow
  const m = withCase.metrics ?? {}
  lines.push(
    '',
    `Paused readers: the server counted ${withSlow.closesAfterS.length} slow-consumer closes (its \`streamgate_queue_limit_closes_total\`, polled every 50 ms) at ${withSlow.closesAfterS.map((s) => fmt(s)).join(', ') || '–'} s after the pause; each paused reader was then resumed and read what the kernel had kept for it, then the close frame if it got out before the gateway's 1 s terminate. A reader closed at the hard limit never sees a conflated frame (its queue goes with the connection), so one more paused reader, the probe, is resumed once the paused queues (the server's \`streamgate_outbound_queued_bytes\`) are halfway between the limits: the queue flushed to it shows the conflation. Server RSS ${fmt(m.rssBeforeMiB)} MiB at the pause, peak ${fmt(m.rssPeakMiB)}, ${fmt(m.rssAfterMiB)} once the paused readers were gone; the paused queues held at most ${fmt(withSlow.peakQueuedBytes / 2 ** 20)} MiB together.`,
    '',
    '| paused reader | resumed after s | frames read after the pause | with `conflated` | close code | connection ended | caught up |',
    '|---|---:|---:|---:|---:|:---:|:---:|',
  )
  const readers = [...(withSlow.probe ? [['probe', withSlow.probe] as const] : []), ...withSlow.paused.map((r, i) => [`#${i + 1}`, r] as const)]
  for (const [name, r] of readers) lines.push(`| ${name} | ${fmt(r.resumedAfterS ?? undefined)} | ${fmt(r.frames, 0)} | ${fmt(r.conflatedFrames, 0)} | ${r.closeCode ?? 'none'} | ${r.ended ? 'yes' : 'no'} | ${r.caughtUp ? 'yes' : 'no'} |`)
  return [...lines, '']
}

/** Among repetitions of one case, the best: the highest delivered rate (saturation), the lowest p99 (fixed). */
function best(rows: CaseRecord[]): CaseRecord | undefined {
  const good = rows.filter((c) => !c.unavailable && !c.error && c.result)
  if (good.length === 0) return rows[0]
  const score = (c: CaseRecord) => (c.mode === 'fixed' ? -(c.result as FlowResult).latency.p99 : (c.result as FlowResult).deliveredPerSec)
  return good.reduce((a, b) => (score(b) > score(a) ? b : a))
}

/** The case of each (scenario, transport, n, mode, system), best of its repetitions. */
function bestCases(cases: CaseRecord[]): CaseRecord[] {
  const groups = new Map<string, CaseRecord[]>()
  for (const c of cases) {
    if (c.scenario !== 'fanout' && c.scenario !== 'groups') continue
    const key = [c.scenario, c.transport, c.n, c.mode, c.system].join('|')
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  return [...groups.values()].map((rows) => ({ ...best(rows)!, runs: rows.length, all: rows }) as CaseRecord & { runs: number; all: CaseRecord[] })
}

/** Delivered messages per second of server CPU: robust to other load on the machine. */
const perCpuSecond = (c: CaseRecord | undefined) => {
  const r = c?.result as FlowResult | undefined
  return r && c?.server?.cpuPct ? Math.round(r.deliveredPerSec / (c.server.cpuPct / 100)) : undefined
}

/** Cores busy with neither the server nor the load generator during the window (other work, kernel). */
const otherCores = (c: CaseRecord, cores: number) =>
  c.machineBusyPct === undefined || !c.server ? undefined : Math.max(0, Math.round(((c.machineBusyPct / 100) * cores - (c.server.cpuPct + (c.loadgen?.cpuPct ?? 0)) / 100) * 100) / 100)

function flowTable(all: CaseRecord[], scenario: 'fanout' | 'groups', transport: Transport, cores: number): string[] {
  const cases = bestCases(all) as Array<CaseRecord & { runs?: number; all?: CaseRecord[] }>
  const rows = cases.filter((c) => c.scenario === scenario && c.transport === transport)
  if (rows.length === 0) return []
  const repeated = rows.some((c) => (c.runs ?? 1) > 1)
  const lines = [
    `| N | mode | system | delivered msg/s | × raw | msg per server CPU-s | × raw | writes/s | p50 ms | p99 ms | p99.9 ms | server CPU % | load-gen CPU % | other cores busy |${repeated ? ' runs (range msg/s) |' : ''} correctness |`,
    `|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${repeated ? '---|' : ''}---|`,
  ]
  for (const c of rows) {
    const r = c.result as FlowResult | undefined
    const rawCase = cases.find((x) => x.scenario === scenario && x.transport === transport && x.system === 'raw' && x.n === c.n && x.mode === c.mode && x.result)
    const raw = rawCase?.result as FlowResult | undefined
    if (c.unavailable) {
      lines.push(`| ${fmt(c.n)} | ${c.mode} | ${systemName(c.system, transport)} | not yet available | | | | | | | | | | |${repeated ? ' |' : ''} |`)
      continue
    }
    const runs = c.all?.filter((x) => x.result).map((x) => (x.result as FlowResult).deliveredPerSec) ?? []
    const range = runs.length > 1 ? `${c.runs}: ${fmt(Math.min(...runs), 0)}–${fmt(Math.max(...runs), 0)}` : `${c.runs ?? 1}`
    const failedRuns = (c.all ?? [c]).filter((x) => !x.ok)
    lines.push(
      `| ${fmt(c.n)} | ${c.mode}${c.mode === 'fixed' ? ` (${fmt(c.params?.rate as number)}/s)` : ''} | ${systemName(c.system, transport)} | ${fmt(r?.deliveredPerSec, 0)} | ${fmt(ratio(r?.deliveredPerSec, raw?.deliveredPerSec))} | ${fmt(perCpuSecond(c), 0)} | ${fmt(ratio(perCpuSecond(c), perCpuSecond(rawCase)))} | ${fmt(r?.writesPerSec, 0)} | ${fmt(r?.latency.p50)} | ${fmt(r?.latency.p99)} | ${fmt(r?.latency.p999)} | ${fmt(c.server?.cpuPct, 0)} | ${fmt(c.loadgen?.cpuPct, 0)} | ${fmt(otherCores(c, cores))} |${repeated ? ` ${range} |` : ''} ${failedRuns.length > 0 && failedRuns[0] !== c ? `**${failedRuns.length} run(s) failed**: ${correctnessText(failedRuns[0]!)}` : correctnessText(c)} |`,
    )
  }
  return lines
}

function flowChart(all: CaseRecord[], scenario: 'fanout' | 'groups', transport: Transport): string | undefined {
  const rows = bestCases(all).filter((c) => c.scenario === scenario && c.transport === transport && !c.unavailable && !c.error)
  if (rows.length === 0) return undefined
  const systems = SYSTEM_ORDER.filter((s) => rows.some((c) => c.system === s))
  const series = (mode: Mode, pick: (r: FlowResult) => number): Series[] =>
    systems.map((s) => ({
      name: systemName(s, transport),
      points: rows.filter((c) => c.system === s && c.mode === mode).map((c) => [c.n!, pick(c.result as FlowResult)] as [number, number]),
    }))
  const modes = new Set(rows.map((c) => c.mode))
  const latencyMode: Mode = modes.has('fixed') ? 'fixed' : 'saturation'
  const rateMode: Mode = modes.has('saturation') ? 'saturation' : 'fixed'
  const what = scenario === 'fanout' ? 'fan-out: 1 writer, N subscribers on one group' : 'many groups: N subscribers, each on its own group'
  return twoPanelChart(
    `${TRANSPORT_NAME[transport]} ${what}`,
    { title: `delivered msg/s (${rateMode})`, yLabel: 'msg/s', series: series(rateMode, (r) => r.deliveredPerSec) },
    { title: `p99 write-to-receive latency (${latencyMode})`, yLabel: 'ms', series: series(latencyMode, (r) => r.latency.p99) },
    'N subscribers',
  )
}

export function renderMarkdown(run: RunRecord): { markdown: string; charts: Map<string, string> } {
  const { cases } = run
  const charts = new Map<string, string>()
  const m = run.machine as { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string; loadavgBefore: number[]; loadavgAfter?: number[] }
  const after = m.loadavgAfter ?? os.loadavg()
  const lines: string[] = [
    `# streamgate benchmarks`,
    '',
    `Run ${run.startedAt} (${run.durationS} s), commit ${run.commit}: \`${run.command}\``,
    '',
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}. Load average before the run ${m.loadavgBefore.join(' / ')}, after ${after.map((l) => l.toFixed(2)).join(' / ')}. ` +
      'The machine is shared: compare systems within this run (they ran side by side, minutes apart), not absolute numbers across runs. ' +
      '"server CPU %" and "load-gen CPU %" are percent of one core over the measured window; "machine busy %" is all cores, so what is neither the server nor the load generator is other work on the machine.',
    '',
    '## Targets (issue 12)',
    '',
    '| target | measured | ratio | met |',
    '|---|---|---:|:---:|',
    ...targets(cases).map((t) => `| ${t.target} | ${t.measured} | ${fmt(t.ratio)} | ${t.met === undefined ? '–' : t.met ? 'yes' : '**no**'} |`),
    '',
  ]
  for (const scenario of ['fanout', 'groups'] as const) {
    for (const transport of ['ws', 'sse', 'grpc'] as Transport[]) {
      const table = flowTable(cases, scenario, transport, m.cpus)
      if (table.length === 0) continue
      const name = `${scenario}-${transport}`
      lines.push(`## ${scenario === 'fanout' ? 'Fan-out' : 'Many groups'}, ${TRANSPORT_NAME[transport]}`, '')
      lines.push(
        scenario === 'fanout'
          ? '1 writer (16 lanes: items written in turn), N subscribers on one group, ~200-byte items. Saturation: each lane writes its next item when the previous one reached every subscriber (bounded queues). Fixed: open-loop writes at the given rate.'
          : 'N subscribers, each on its own group; writes spread over the groups (one delivery per write).',
        '',
      )
      lines.push(...table, '')
      const chart = flowChart(cases, scenario, transport)
      if (chart) {
        charts.set(`${name}.svg`, chart)
        lines.push(`![${name}](${name}.svg)`, '')
      }
    }
  }
  const idle = cases.filter((c) => c.scenario === 'idle')
  if (idle.length) {
    lines.push('## Idle connections', '', 'C connections with one group subscription each (synced, then idle); memory = server RSS after − before (median of 5 samples), per connection.', '')
    lines.push('| transport | system | C | RSS before MiB | RSS after MiB | KiB per connection | connect + sync ms | ok |', '|---|---|---:|---:|---:|---:|---:|---|')
    for (const c of idle) {
      if (c.unavailable) lines.push(`| ${TRANSPORT_NAME[c.transport!]} | ${systemName(c.system, c.transport)} | ${fmt(c.n)} | not yet available | | | | |`)
      else lines.push(`| ${TRANSPORT_NAME[c.transport!]} | ${systemName(c.system, c.transport)} | ${fmt(c.n)} | ${fmt(c.metrics?.rssBeforeMiB)} | ${fmt(c.metrics?.rssAfterMiB)} | ${fmt(c.metrics?.perConnKiB)} | ${fmt(c.metrics?.connectMs, 0)} | ${correctnessText(c)} |`)
    }
    const bars = idle.filter((c) => c.metrics).map((c) => ({ label: `${systemName(c.system, c.transport)} (${TRANSPORT_NAME[c.transport!]})`, value: c.metrics!.perConnKiB! }))
    if (bars.length) {
      charts.set('idle.svg', barChart(`Idle memory per connection (C=${fmt(idle[0]!.n)}), server RSS delta`, 'KiB', bars))
      lines.push('', '![idle](idle.svg)')
    }
    lines.push('')
  }
  const storm = cases.filter((c) => c.scenario === 'storm')
  if (storm.length) {
    lines.push(
      '## Reconnect storm',
      '',
      'C synced subscribers on one group are cut at once (TCP RST); after the delay all reconnect at once and re-join. Recovery = from the start of the reconnect wave to the last client\'s new sync (a client whose connection fails retries after 2 s, like Motia\'s). Listen overflows = SYNs dropped at the accept queue (the kernel retries them after 1 s).',
      '',
    )
    lines.push('| transport | system | C | recovery ms | p50 ms | p99 ms | retries | listen overflows | idle MiB | peak MiB | 3 s after MiB | 8 s after MiB | server CPU % | load-gen CPU % | ok |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const c of storm) {
      const k = c.metrics ?? {}
      lines.push(`| ${TRANSPORT_NAME[c.transport!]} | ${systemName(c.system, c.transport)} | ${fmt(c.n)} | ${fmt(k.recoveryMs, 0)} | ${fmt(k.resyncP50Ms, 0)} | ${fmt(k.resyncP99Ms, 0)} | ${fmt(k.retries, 0)} | ${fmt(k.listenOverflows, 0)} | ${fmt(k.idleMiB)} | ${fmt(k.peakMiB)} | ${fmt(k.after3sMiB)} | ${fmt(k.afterMiB)} | ${fmt(c.server?.cpuPct, 0)} | ${fmt(c.loadgen?.cpuPct, 0)} | ${correctnessText(c)} |`)
    }
    const bars = storm.filter((c) => c.metrics).map((c) => ({ label: `${systemName(c.system, c.transport)} (${TRANSPORT_NAME[c.transport!]})`, value: c.metrics!.recoveryMs! }))
    if (bars.length) {
      charts.set('storm.svg', barChart(`Reconnect storm: ${fmt(storm[0]!.n)} clients, time until all re-synced`, 'ms', bars))
      lines.push('', '![storm](storm.svg)')
    }
    lines.push('')
  }
  const writes = cases.filter((c) => c.scenario === 'writes')
  if (writes.length) {
    lines.push(
      '## Writes',
      '',
      'Set latency from request to answer, measured by a writer process of its own (subscribers, when there are any, are WebSocket clients on the written group in another process and check every update). Fixed: open-loop at the given rate over 4 connections; saturation: 8 connections, each sending its next write when the previous one was answered. In-process: `server.streams.bench.set` inside the gateway process (set call to resolution), the same two modes.',
      '',
    )
    lines.push('| system | store | API | mode | subscribers | sets/s | p50 ms | p99 ms | p99.9 ms | server CPU % | writer CPU % | subscribers CPU % | correctness |', '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const c of writes) {
      const r = c.result as WriterResult | undefined
      if (c.unavailable) {
        lines.push(`| ${systemName(c.system)} | ${c.store ?? ''} | ${c.api} | ${c.mode} | ${fmt(c.n)} | not yet available | | | | | | | |`)
        continue
      }
      lines.push(
        `| ${systemName(c.system)} | ${c.store ?? ''} | ${c.api === 'motia' ? 'control API (POST /__ref)' : c.api} | ${c.mode}${c.mode === 'fixed' ? ` (${fmt(c.params?.rate as number)}/s)` : ` (${fmt(c.params?.lanes as number)} in flight)`} | ${fmt(c.n)} | ${fmt(r?.writesPerSec, 0)} | ${fmt(r?.latency.p50, 3)} | ${fmt(r?.latency.p99, 3)} | ${fmt(r?.latency.p999, 3)} | ${fmt(c.server?.cpuPct, 0)} | ${fmt(c.loadgen?.cpuPct, 0)} | ${fmt(c.loadgen?.subscribersCpuPct, 0)} | ${correctnessText(c)} |`,
      )
    }
    const bars = writes
      .filter((c) => c.mode === 'fixed' && c.result)
      .map((c) => ({ label: `${systemName(c.system)}${c.store && c.store !== 'memory' ? ` ${c.store}` : ''} ${c.api === 'motia' ? 'control API' : c.api}, ${fmt(c.n)} subs`, value: (c.result as WriterResult).latency.p99, color: c.n ? '#ff7f0e' : '#1f77b4' }))
    if (bars.length) {
      charts.set('writes.svg', barChart('Set latency p99 at a fixed rate, without and with subscribers', 'ms', bars))
      lines.push('', '![writes](writes.svg)')
    }
    lines.push('')
  }
  lines.push(...slowSection(cases, m.cpus))
  lines.push(
    '## How these numbers are made',
    '',
    'See bench/README.md. In short: every system is a process of its own, started by the harness; the load generator is another process (its CPU is in the tables); latency is write-to-receive from a timestamp in the payload on one machine-wide monotonic clock, recorded in HDR histograms; every case checks that each subscriber got every update exactly once and in order, or the run fails.',
    '',
  )
  return { markdown: lines.join('\n'), charts }
}

/** Writes <timestamp>.json, latest.md and the charts; returns the files written. */
export function writeReports(run: RunRecord, dir: string, writeJson = true): string[] {
  mkdirSync(dir, { recursive: true })
  const stamp = run.startedAt.replace(/[:.]/g, '-')
  const json = join(dir, `${stamp}.json`)
  if (writeJson) writeFileSync(json, `${JSON.stringify(run, null, 2)}\n`)
  const { markdown, charts } = renderMarkdown(run)
  const md = join(dir, 'latest.md')
  writeFileSync(md, markdown)
  const files = writeJson ? [json, md] : [md]
  for (const [name, content] of charts) {
    writeFileSync(join(dir, name), content)
    files.push(join(dir, name))
  }
  return files
}

// `node --import tsx bench/lib/report.ts bench/results/<run>.json`: renders latest.md and the charts of that
// run again, next to the JSON.
if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) {
    console.error('usage: node --import tsx bench/lib/report.ts <run.json>')
    process.exit(2)
  }
  const run = JSON.parse(readFileSync(file, 'utf8')) as RunRecord
  console.log(writeReports(run, dirname(file), false).join('\n'))
}
