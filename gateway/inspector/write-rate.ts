/**
 * Writes per second from a monotonic counter: sampled once a second, the rate is the increase from the
 * oldest sample of the window to now. A reading, not a second count: the counter stays the source.
 */
export class WriteRate {
  private readonly samples: Array<{ at: number; total: number }> = []
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly read: () => Promise<number>,
    private readonly windowMs = 5000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Samples now (so writes of the first second count) and then every `intervalMs`. */
  start(intervalMs = 1000) {
    if (this.timer) return
    void this.sample()
    this.timer = setInterval(() => void this.sample(), intervalMs).unref()
  }

  stop() {
    clearInterval(this.timer)
    this.timer = undefined
  }

  async sample() {
    const at = this.clock()
    const total = await this.read()
    this.samples.push({ at, total })
    // Keep one sample at or beyond the window's start, so the window is always covered.
    while (this.samples.length > 1 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift()
  }

  /** The total now, and the rate since the oldest sample of the window (0 before the first sample). */
  async now(): Promise<{ total: number; perSecond: number }> {
    const total = await this.read()
    const oldest = this.samples[0]
    const elapsed = oldest ? this.clock() - oldest.at : 0
    const perSecond = oldest && elapsed > 0 ? ((total - oldest.total) * 1000) / elapsed : 0
    return { total, perSecond: Math.round(perSecond * 10) / 10 }
  }
}
