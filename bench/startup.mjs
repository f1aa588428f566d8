// Startup cost of the `streamgate` command: wall time and peak RSS of `--help`, and for a folder of JavaScript
// streams (bench/streams) and one of TypeScript streams (examples/streams) the time until the gateway prints
// its listening line and its RSS once it has settled (2 s later).
// Each command runs `--runs` times (default 9); the median is reported.
//
//   node bench/startup.mjs bin/streamgate.mjs [another/checkout/bin/streamgate.mjs ...] [--runs N]
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const FOLDERS = {
  js: fileURLToPath(new URL('streams', import.meta.url)),
  ts: fileURLToPath(new URL('../examples/streams', import.meta.url)),
}
const args = process.argv.slice(2)
const at = args.indexOf('--runs')
const runs = at >= 0 ? Number(args.splice(at, 2)[1]) : 9
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** Resident and peak resident memory of a live process, in MB. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)[1]) / 1024
  return { rss: field('VmRSS'), peak: field('VmHWM') }
}

/** Runs `node bin ...args` until `until` matches its output (then samples it and stops it) or it exits. */
function run(bin, argv, until, settleMs = 0) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, [bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let result
    let peak = 0
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memoryOf(child.pid).peak)
      } catch {}
    }, 5)
    const onData = async (chunk) => {
      output += chunk
      if (!until || result || !until.test(output)) return
      result = { ms: Number(process.hrtime.bigint() - started) / 1e6 }
      await sleep(settleMs)
      result.rss = memoryOf(child.pid).rss
      child.kill('SIGTERM')
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearInterval(sampler)
      if (until && !result) return reject(new Error(`${bin} exited ${code}: ${output}`))
      resolve(result ?? { ms: Number(process.hrtime.bigint() - started) / 1e6, peak })
    })
  })
}

const rows = []
for (const bin of args) {
  const help = []
  const ready = { js: [], ts: [] }
  for (let i = 0; i < runs; i++) {
    help.push(await run(bin, ['--help']))
    for (const [kind, folder] of Object.entries(FOLDERS)) {
      ready[kind].push(await run(bin, ['--streams', folder, '--port', '0'], /streamgate listening on/, 2000))
    }
  }
  const cells = (results) => `${median(results.map((r) => r.ms)).toFixed(0)} ms | ${median(results.map((r) => r.rss)).toFixed(0)} MB`
  rows.push(`| \`${bin}\` | ${median(help.map((r) => r.ms)).toFixed(0)} ms | ${median(help.map((r) => r.peak)).toFixed(0)} MB | ${cells(ready.js)} | ${cells(ready.ts)} |`)
}
console.log(`node ${process.version}, median of ${runs} runs`)
console.log('| command | `--help` | `--help` peak RSS | JS streams: listening | idle RSS | TS streams: listening | idle RSS |')
console.log('|---|---:|---:|---:|---:|---:|---:|')
for (const row of rows) console.log(row)
