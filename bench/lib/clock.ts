/**
 * One clock for every benchmark process.
 *
 * On Linux `process.hrtime` reads CLOCK_MONOTONIC, which is the same clock for every process of the machine.
 * The orchestrator picks an origin (`process.hrtime.bigint()` at its start) and passes it to every child in
 * BENCH_ORIGIN_NS. Each process then reads `performance.now()` (also CLOCK_MONOTONIC, through uv_hrtime, but
 * cheap: no BigInt) plus a constant offset computed once at start-up, so `nowUs()` is "microseconds since the
 * shared origin" in every process: a timestamp written into a payload by one process can be subtracted from
 * a receive time taken in another. The offset is taken as the best of a few samples (error well under 1 µs).
 */
const ORIGIN_NS = BigInt(process.env.BENCH_ORIGIN_NS ?? String(process.hrtime.bigint()))

function computeOffsetUs(): number {
  let best = Number.POSITIVE_INFINITY
  let offset = 0
  for (let i = 0; i < 5; i++) {
    const before = performance.now()
    const hr = process.hrtime.bigint()
    const after = performance.now()
    if (after - before < best) {
      best = after - before
      offset = Number(hr - ORIGIN_NS) / 1000 - ((before + after) / 2) * 1000
    }
  }
  return offset
}

const OFFSET_US = computeOffsetUs()

/** Microseconds since the shared origin (float). */
export const nowUs = (): number => performance.now() * 1000 + OFFSET_US

export const originNs = (): string => String(ORIGIN_NS)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
