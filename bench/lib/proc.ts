import { readFileSync } from 'node:fs'
import os from 'node:os'

/** Process and machine figures from /proc (Linux), read by the orchestrator about its children. */

const TICK_MS = 10 // USER_HZ is 100 on Linux

/** Resident set size and its high-water mark, KiB; null when the process is gone. */
export function memory(pid: number): { rssKiB: number; hwmKiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') }
  } catch {
    return null
  }
}

/** CPU time (user + system) of a process so far, ms. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS
  } catch {
    return 0
  }
}

/** Busy and total CPU time of the whole machine so far, ms (all cores). */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  const total = values.reduce((a, b) => a + b, 0)
  const idle = (values[3] ?? 0) + (values[4] ?? 0)
  return { busyMs: (total - idle) * TICK_MS, totalMs: total * TICK_MS }
}

/** TcpExt counters that tell whether connection attempts were dropped at the listen queue. */
export function listenDrops(): { overflows: number; drops: number } {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n')
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'))
    const names = lines[i]!.split(/\s+/)
    const values = lines[i + 1]!.split(/\s+/)
    const get = (name: string) => Number(values[names.indexOf(name)] ?? 0)
    return { overflows: get('ListenOverflows'), drops: get('ListenDrops') }
  } catch {
    return { overflows: 0, drops: 0 }
  }
}

/** Measures a process's CPU and the machine's between start() and stop(). */
export function cpuWindow(pids: number[]) {
  let t0 = 0
  let procs0: number[] = []
  let machine0 = machineCpu()
  return {
    start() {
      t0 = performance.now()
      procs0 = pids.map(cpuMs)
      machine0 = machineCpu()
    },
    /** Per process: percent of one core; machine: busy percent of all cores. */
    stop() {
      const elapsed = performance.now() - t0
      const procs = pids.map((pid, i) => Math.round(((cpuMs(pid) - procs0[i]!) / elapsed) * 1000) / 10)
      const machine = machineCpu()
      const busy = machine.busyMs - machine0.busyMs
      const total = machine.totalMs - machine0.totalMs
      return { procs, machineBusyPct: total > 0 ? Math.round((busy / total) * 1000) / 10 : 0, elapsedMs: Math.round(elapsed) }
    },
  }
}

export function machineInfo() {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
  }
}
