import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Summaries of V8 CPU profiles (`node --cpu-prof`): the functions with the most self time. */

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
  startTime: number
  endTime: number
}

export interface FrameTotal {
  name: string
  selfMs: number
  selfPct: number
  totalPct: number
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/').replace(/^.*\/work\/main\//, '')

/** Self and total time per function (by name + location), over the whole profile or only non-idle samples. */
export function topFrames(file: string, limit = 25): { busyMs: number; frames: FrameTotal[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0))
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  const idle = new Set(['(idle)', '(program)', '(garbage collector)'])
  let busy = 0
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!
    if (node.callFrame.functionName !== '(idle)') busy += us
    const k = idle.has(node.callFrame.functionName) ? node.callFrame.functionName : key(node)
    self.set(k, (self.get(k) ?? 0) + us)
    // Total: every distinct frame on the stack.
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!
      const kk = idle.has(n.callFrame.functionName) ? n.callFrame.functionName : key(n)
      if (seen.has(kk) || n.callFrame.functionName === '(root)') continue
      seen.add(kk)
      total.set(kk, (total.get(kk) ?? 0) + us)
    }
  }
  const frames = [...self.entries()]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), selfPct: Math.round((us / busy) * 1000) / 10, totalPct: Math.round(((total.get(name) ?? us) / busy) * 1000) / 10 }))
  return { busyMs: Math.round(busy / 1000), frames }
}

/** The heaviest frames by total (inclusive) time, e.g. to see which gateway function the self time sits under. */
export function topInclusive(file: string, filter: (name: string) => boolean, limit = 25): FrameTotal[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  let busy = 0
  const total = new Map<string, number>()
  for (let i = 0; i < samples.length; i++) {
    const us = deltas[i + 1] ?? deltas[i] ?? 0
    const leaf = byId.get(samples[i]!)!
    if (leaf.callFrame.functionName === '(idle)') continue
    busy += us
    const seen = new Set<string>()
    for (let cur: number | undefined = samples[i]; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!)
      if (seen.has(k)) continue
      seen.add(k)
      total.set(k, (total.get(k) ?? 0) + us)
    }
  }
  return [...total.entries()]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: 0, selfPct: 0, totalPct: Math.round((us / busy) * 1000) / 10 }))
}

/** Profiles below `dir` (one sub-directory per server process); per process, the thread that was busiest. */
export function summarizeProfiles(dir: string): string {
  const out: string[] = []
  const dirs = [dir, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))]
  for (const d of dirs) {
    const files = readdirSync(d).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(d, f))
    if (files.length === 0) continue
    const main = files.map((file) => ({ file, ...topFrames(file) })).sort((a, b) => b.busyMs - a.busyMs)[0]!
    out.push(`\n${main.file}: ${main.busyMs} ms busy (busiest of ${files.length} thread profile(s))`, '  self%  total%  function')
    for (const f of main.frames) out.push(`  ${f.selfPct.toFixed(1).padStart(5)}  ${f.totalPct.toFixed(1).padStart(6)}  ${f.name}`)
    out.push('  -- gateway functions by inclusive time --')
    for (const f of topInclusive(main.file, (name) => name.includes('gateway/'), 20)) out.push(`         ${f.totalPct.toFixed(1).padStart(6)}  ${f.name}`)
  }
  return out.join('\n')
}

// `node --import tsx bench/lib/profile.ts FILE.cpuprofile|DIR`
if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2]
  if (!target) {
    console.error('usage: node --import tsx bench/lib/profile.ts <file.cpuprofile | dir>')
    process.exit(2)
  }
  if (target.endsWith('.cpuprofile')) {
    const { busyMs, frames } = topFrames(target)
    console.log(`${target}: ${busyMs} ms busy\n  self%  total%  function`)
    for (const f of frames) console.log(`  ${f.selfPct.toFixed(1).padStart(5)}  ${f.totalPct.toFixed(1).padStart(6)}  ${f.name}`)
    console.log('  -- gateway functions by inclusive time --')
    for (const f of topInclusive(target, (name) => name.includes('gateway/'), 20)) console.log(`         ${f.totalPct.toFixed(1).padStart(6)}  ${f.name}`)
  } else console.log(summarizeProfiles(target))
}
