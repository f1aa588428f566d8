import type { Logger } from 'pino'
import type { Store } from '../store/store.ts'

/** How often due items are looked for: an item is deleted well within a second after its time. */
export const SWEEP_INTERVAL_MS = 250

/**
 * Asks the store, every SWEEP_INTERVAL_MS, to delete the items whose time has come (each a delete record
 * through the log, so every subscriber gets its `delete` frame). One sweep at a time; a failing one (the
 * store unreachable) is logged and the next one tries again.
 */
export class ExpirySweeper {
  private readonly timer: NodeJS.Timeout
  /** The sweep in flight, if any. */
  private running: Promise<void> | undefined

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly expired: (count: number) => void,
  ) {
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.timer.unref()
  }

  private sweep() {
    if (this.running || !this.store.ready()) return
    this.running = this.store
      .expire(Date.now())
      .then(
        (count) => count > 0 && this.expired(count),
        (error) => this.logger.warn({ err: error }, 'expiry sweep failed; the next one retries'),
      )
      .then(() => (this.running = undefined))
  }

  /** No more sweeps; resolves once the one in flight is done, so the store can close under none. */
  async stop() {
    clearInterval(this.timer)
    await this.running
  }
}
