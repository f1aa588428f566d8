import { ConnectError } from '@connectrpc/connect'

/**
 * The few messages of a Subscribe call between the core's rounds and the response stream, which pulls at the
 * pace the client reads. It reports itself full past `highWaterBytes`, so the core keeps (and conflates)
 * later frames until `drained` runs; the core's queue limit ends the call.
 */
export class Outbox<T> {
  private queue: Array<{ item: T; bytes: number }> = []
  private queued = 0
  private failure: ConnectError | undefined
  private wake: (() => void) | undefined

  constructor(
    private readonly highWaterBytes: number,
    private readonly drained: () => void,
  ) {}

  /** False when the outbox is past its high-water mark. */
  push(item: T, bytes: number): boolean {
    if (this.failure) return true
    this.queue.push({ item, bytes })
    this.queued += bytes
    this.notify()
    return this.queued < this.highWaterBytes
  }

  /** Ends the stream with `error` after nothing else: what is queued is dropped. */
  fail(error: ConnectError) {
    if (this.failure) return
    this.failure = error
    this.queue = []
    this.queued = 0
    this.notify()
  }

  private notify() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** Yields queued items in order until the outbox fails or `signal` aborts (deadline, cancel, shutdown). */
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    for (;;) {
      if (this.failure) throw this.failure
      if (signal.aborted) throw ConnectError.from(signal.reason)
      const next = this.queue.shift()
      if (next) {
        const wasFull = this.queued >= this.highWaterBytes
        this.queued -= next.bytes
        if (wasFull && this.queued < this.highWaterBytes) this.drained()
        yield next.item
        continue
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done)
          this.wake = undefined
          resolve()
        }
        this.wake = done
        signal.addEventListener('abort', done)
      })
    }
  }
}
