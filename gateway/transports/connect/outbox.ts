import { ConnectError } from '@connectrpc/connect'

/**
 * What a Subscribe call has yet to write, between the core (which delivers synchronously, whatever the
 * client's pace) and the response stream (which pulls at the pace the client reads). Bounded in bytes:
 * past `maxBytes` the call fails, the queue is dropped and `overflow` runs once.
 */
export class Outbox<T> {
  private queue: Array<{ item: T; bytes: number }> = []
  private queued = 0
  private failure: ConnectError | undefined
  private wake: (() => void) | undefined

  constructor(
    private readonly maxBytes: number,
    private readonly overflow: (queuedBytes: number) => ConnectError,
  ) {}

  get queuedBytes() {
    return this.queued
  }

  get failed() {
    return this.failure !== undefined
  }

  push(item: T, bytes: number) {
    if (this.failure) return
    this.queue.push({ item, bytes })
    this.queued += bytes
    if (this.queued > this.maxBytes) this.fail(this.overflow(this.queued))
    else this.notify()
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
        this.queued -= next.bytes
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
