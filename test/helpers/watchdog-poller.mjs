// The watchdog's poller, in a process of its own so that nothing the test process does delays it: asks
// GET /healthz on one keep-alive connection (TLS for an https URL) every INTERVAL ms and prints one JSON
// line per answer slower than BUDGET ms (or missing). A line `sync` on stdin is answered with
// {"kind":"synced"} once the request in flight has its answer; between `pause` and `resume` (a test's own
// instrument stops the gateway, e.g. a forced garbage collection) answers are not judged; the end of stdin
// prints a summary.
//
// The machine is shared (2 cores, other test runs): an answer can be late because the machine gave the
// gateway no CPU, which says nothing about the gateway. What says it stalled is that its event loop ran
// while the answer waited: Linux counts, per thread, the time on a CPU and the time ready but waiting for
// one (/proc/<pid>/task/<tid>/schedstat, in ns). An answer counts as late when the gateway's main thread
// ran for more than the budget while it waited; its wall time, and the wall time less what the gateway
// and this poller waited for a CPU, are reported with it. Without /proc the wall time counts as it is.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

const url = new URL(process.argv[2])
const [interval, budget, gatewayPid] = [Number(process.argv[3]), Number(process.argv[4]), process.argv[5]]
const [host, port] = [url.hostname, Number(url.port)]
const report = (line) => process.stdout.write(`${JSON.stringify(line)}\n`)

/** A main thread's nanoseconds on a CPU and waiting for one; null where Linux does not say. */
function schedstat(pid) {
  try {
    const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ').map(Number)
    return { onCpu, waiting }
  } catch {
    return null
  }
}
const waitedMs = () => ((schedstat(gatewayPid)?.waiting ?? 0) + (schedstat(process.pid)?.waiting ?? 0)) / 1e6
/** Milliseconds the gateway's event loop has run; the wall clock where /proc cannot say. */
const gatewayRanMs = () => {
  const stat = schedstat(gatewayPid)
  return stat ? stat.onCpu / 1e6 : performance.now()
}

let answers = 0
let maxMs = 0
let maxWallMs = 0
let maxNotWaitingMs = 0
let stopping = false
/** Bumped by every pause and resume: an answer whose request saw one is not judged. */
let pauses = 0
let paused = false
/** Called once the request in flight has its answer (syncs wait for it). */
let afterAnswer = []
let inFlight = false
let socket
let connected

function connect() {
  socket = url.protocol === 'https:' ? tls.connect({ port, host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : net.connect(port, host)
  socket.setNoDelay(true)
  connected = new Promise((resolve) => socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', resolve))
  let buffer = Buffer.alloc(0)
  let waiting
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buffer.subarray(0, end).toString('latin1')
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (buffer.length < end + 4 + length) return
      buffer = buffer.subarray(end + 4 + length)
      waiting?.(head.split('\r\n')[0])
    }
  })
  socket.on('error', () => {})
  socket.once('close', () => {
    if (!stopping) report({ kind: 'closed', message: 'the gateway closed the watchdog connection' })
    waiting?.(null)
  })
  return (resolve) => (waiting = resolve)
}

async function poll() {
  let onAnswer = connect()
  await connected
  while (!stopping) {
    const request = answers + 1
    const pausesBefore = pauses
    const answered = new Promise((resolve) => onAnswer(resolve))
    const waitedBefore = waitedMs()
    const ranBefore = gatewayRanMs()
    const started = performance.now()
    // Reported at once (and again with its time when it comes), so that a gateway that never answers again
    // fails the test that is running.
    let reportedLate = false
    const late = setInterval(() => {
      if (!paused && pauses === pausesBefore && gatewayRanMs() - ranBefore > budget) {
        clearInterval(late)
        reportedLate = true
        report({ kind: 'slow', request, ms: budget, pending: true })
      }
    }, budget)
    inFlight = true
    socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`)
    const status = await answered
    clearInterval(late)
    inFlight = false
    const wallMs = performance.now() - started
    const ms = gatewayRanMs() - ranBefore
    const notWaitingMs = wallMs - (waitedMs() - waitedBefore)
    if (status === null) {
      if (stopping) break
      await new Promise((r) => setTimeout(r, interval))
      onAnswer = connect()
      await connected
      continue
    }
    answers += 1
    maxMs = Math.max(maxMs, ms)
    maxWallMs = Math.max(maxWallMs, wallMs)
    maxNotWaitingMs = Math.max(maxNotWaitingMs, notWaitingMs)
    if (!status.includes(' 200 ')) report({ kind: 'status', status })
    const judged = !paused && pauses === pausesBefore
    if ((judged && ms > budget) || reportedLate) report({ kind: 'slow', request, ms: judged ? Math.round(ms) : 0, wallMs: Math.round(wallMs), notWaitingMs: Math.round(notWaitingMs) })
    for (const done of afterAnswer.splice(0)) done()
    await new Promise((r) => setTimeout(r, interval))
  }
}

const synced = () => report({ kind: 'synced' })
process.stdin.setEncoding('utf8')
process.stdin.on('data', (text) => {
  for (const line of text.split('\n')) {
    if (line === 'pause' || line === 'resume') {
      paused = line === 'pause'
      pauses += 1
      report({ kind: 'synced' })
      continue
    }
    if (line !== 'sync') continue
    if (!inFlight) synced()
    else {
      // A gateway that never answers again: the late request is reported already; do not wait for it.
      const timer = setTimeout(synced, 1000)
      afterAnswer.push(() => {
        clearTimeout(timer)
        synced()
      })
    }
  }
})
process.stdin.on('end', () => {
  stopping = true
  const round = (n) => Math.round(n * 10) / 10
  report({ kind: 'summary', answers, maxMs: round(maxMs), maxWallMs: round(maxWallMs), maxNotWaitingMs: round(maxNotWaitingMs) })
  socket?.destroy()
  process.exit(0)
})
report({ kind: 'started' })
poll()
