import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { StreamgateServer } from '../../gateway/server.ts'
import { nowUs, sleep } from '../lib/clock.ts'
import { itemJson } from '../lib/marker.ts'
import { newHistogram, summarize } from '../lib/tracker.ts'

/**
 * streamgate exactly as `bin/streamgate.mjs` starts it (same CLI, same flags), plus one route for the
 * in-process write benchmark: `POST /__bench/inproc` runs `server.streams.bench.set(...)` inside the gateway's
 * process, as an embedding application's handler would, and answers with the latency of each set call.
 * Body: {groupId, mode: 'fixed'|'saturation', rate, lanes, warmupMs, durationMs}. The items carry the usual
 * markers, so subscribers in the load generator check every update.
 *
 * - fixed: a 1 ms timer issues the writes that are due (open loop); latency = set() call to resolution;
 *   the timer's lateness is reported separately (it is the event loop's delay, e.g. during fan-out).
 * - saturation: sequential awaited sets, yielding to the event loop (setImmediate) every `lanes` sets so that
 *   fan-out and I/O run, as long-running handler code has to.
 *
 * Started with `node --import tsx bench/peers/streamgate-inproc.ts <streamgate flags>`.
 */

// The compiled gateway, as bin/streamgate.mjs runs it (`npm run build` first); STREAMGATE_ROOT=<checkout>: the
// gateway of another working tree (A/B runs of a proposed change).
const root = process.env.STREAMGATE_ROOT ?? new URL('../../', import.meta.url).pathname
const { main } = (await import(pathToFileURL(join(resolve(root), 'dist/gateway/cli.js')).href)) as typeof import('../../gateway/cli.ts')

interface RunRequest {
  groupId: string
  mode: 'fixed' | 'saturation'
  rate: number
  lanes: number
  warmupMs: number
  durationMs: number
}

await main(process.argv.slice(2), async (server: StreamgateServer) => {
  const bench = server.streams.bench
  if (!bench) throw new Error('the bench stream is not loaded')
  server.app.post('/__bench/inproc', async (request) => {
    const { groupId, mode, rate, lanes, warmupMs, durationMs } = request.body as RunRequest
    const latency = newHistogram()
    const lag = newHistogram()
    const seqs = new Array<number>(lanes).fill(0)
    const start = nowUs()
    const windowStart = start + warmupMs * 1000
    const windowEnd = windowStart + durationMs * 1000
    let written = 0
    let inWindow = 0
    const writeOne = async (lane: number) => {
      const seq = ++seqs[lane]!
      const t = nowUs()
      await bench.set(groupId, `i${lane}`, JSON.parse(itemJson(lane, seq, t)))
      const done = nowUs()
      written++
      if (t >= windowStart && t < windowEnd) {
        inWindow++
        latency.recordValue(Math.max(1, Math.round(done - t)))
      }
      return t
    }
    if (mode === 'saturation') {
      // `lanes` writers, each writing its next item once the previous set resolved: `lanes` writes in flight.
      // A writer yields a turn now and then, as a set that resolves at once (the memory store) never would.
      const writer = async (lane: number) => {
        for (let i = 1; nowUs() < windowEnd; i++) {
          await writeOne(lane)
          if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
        }
      }
      await Promise.all(Array.from({ length: lanes }, (_, lane) => writer(lane)))
    } else {
      let issued = 0
      const pending = new Set<Promise<unknown>>()
      while (nowUs() < windowEnd) {
        const now = nowUs()
        const due = Math.floor(((now - start) / 1e6) * rate)
        while (issued < due) {
          const scheduled = start + (issued / rate) * 1e6
          if (scheduled >= windowStart && scheduled < windowEnd) lag.recordValue(Math.max(1, Math.round(now - scheduled)))
          const p = writeOne(issued % lanes)
          pending.add(p)
          void p.finally(() => pending.delete(p))
          issued++
        }
        await sleep(1)
      }
      await Promise.all(pending)
    }
    return {
      written,
      perLane: seqs,
      writesInWindow: inWindow,
      writesPerSec: inWindow / (durationMs / 1000),
      latency: summarize(latency),
      loopLag: summarize(lag),
    }
  })
})
