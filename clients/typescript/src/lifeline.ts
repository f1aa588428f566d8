import { type BackoffOptions, backoffDelay } from './backoff.ts'
import type { NetworkChange, NetworkMonitor } from './network.ts'
import type { StreamError } from './types.ts'

/** A token, or nothing (anonymous). */
export type TokenResult = string | null | undefined

export type LinkStatus = 'idle' | 'connecting' | 'open' | 'waiting' | 'offline' | 'closed'

/** How one connection attempt reports back to its lifeline. Calls after the attempt was dropped are ignored. */
export interface Link {
  /** Aborted when the lifeline drops this attempt (restart, stop, close): close the connection. */
  readonly signal: AbortSignal
  /** The connection is established (status `open`). */
  opened(): void
  /**
   * Data arrived: the connection works, so the next reconnect starts the back-off over. (A connection that
   * opens and fails before any data, e.g. refused credentials behind a 200, keeps backing off.)
   */
  alive(): void
  /** The connection ended, cleanly or not: the lifeline tries again after a back-off delay. */
  ended(error?: StreamError): void
}

/** Opens one connection; `token` is what the token provider returned for this attempt. Must not throw. */
export type Open = (token: string | undefined, link: Link) => void

export interface LifelineOptions {
  backoff?: BackoffOptions
  network: NetworkMonitor
  /** Called before every attempt, so a refreshed token is used on every reconnect. */
  auth?: () => TokenResult | Promise<TokenResult>
  random?: () => number
  onStatus(status: LinkStatus): void
  onError(error: StreamError): void
}

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/**
 * Keeps one connection alive: connects, and after every end waits a back-off delay (full jitter) before the
 * next attempt. No attempts while the network is offline; `online` (and a page becoming visible while
 * waiting) reconnects at once. `close()` cancels the pending timer and the attempt in flight.
 */
export class Lifeline {
  private state: LinkStatus = 'idle'
  private attempts = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private current: AbortController | undefined
  private unwatch: (() => void) | undefined

  constructor(
    private readonly open: Open,
    private readonly options: LifelineOptions,
  ) {}

  get status(): LinkStatus {
    return this.state
  }

  /** Connects unless already connected, connecting, or waiting for the next attempt. */
  start() {
    if (this.state === 'idle') this.connect()
  }

  /** Drops the current connection, if any, and connects again now (a changed subscription set, a new token). */
  restart() {
    if (this.state === 'closed') return
    this.drop()
    this.connect()
  }

  /** Drops the connection and stays idle until `start()`. */
  stop() {
    if (this.state === 'closed') return
    this.drop()
    this.unwatch?.()
    this.unwatch = undefined
    this.attempts = 0
    this.set('idle')
  }

  /** For good: nothing is pending afterwards, and nothing starts again. */
  close() {
    if (this.state === 'closed') return
    this.drop()
    this.unwatch?.()
    this.unwatch = undefined
    this.set('closed')
  }

  private drop() {
    clearTimeout(this.timer)
    this.timer = undefined
    const current = this.current
    this.current = undefined
    current?.abort()
  }

  private connect() {
    clearTimeout(this.timer)
    this.timer = undefined
    this.unwatch ??= this.options.network.subscribe(this.onNetwork)
    if (!this.options.network.isOnline()) return this.set('offline')
    const controller = new AbortController()
    this.current = controller
    this.set('connecting')
    let ended = false
    let opened = false
    let healthy = false
    const link: Link = {
      signal: controller.signal,
      opened: () => {
        if (ended || this.current !== controller) return
        opened = true
        this.set('open')
      },
      alive: () => {
        if (healthy || ended || this.current !== controller) return
        healthy = true
        if (!opened) link.opened()
      },
      ended: (error) => {
        if (ended) return
        ended = true
        if (this.current !== controller) return
        this.current = undefined
        // A connection that delivered data, or that the server ended cleanly, was a success.
        if (healthy || (opened && !error)) this.attempts = 0
        if (error) this.options.onError(error)
        this.retry()
      },
    }
    const { auth } = this.options
    if (!auth) return this.attempt(undefined, link)
    Promise.resolve()
      .then(auth)
      .then(
        (token) => {
          if (!controller.signal.aborted) this.attempt(token ?? undefined, link)
        },
        (cause) => link.ended({ kind: 'auth', message: `the token provider failed: ${describe(cause)}`, cause }),
      )
  }

  private attempt(token: string | undefined, link: Link) {
    try {
      this.open(token, link)
    } catch (cause) {
      link.ended({ kind: 'connection', message: describe(cause), cause })
    }
  }

  private retry() {
    if (this.state === 'closed' || this.state === 'idle') return
    if (!this.options.network.isOnline()) return this.set('offline')
    const delay = backoffDelay(this.attempts++, this.options.backoff, this.options.random)
    this.set('waiting')
    this.timer = setTimeout(() => this.connect(), delay)
  }

  private readonly onNetwork = (change: NetworkChange) => {
    if (change === 'online' && (this.state === 'offline' || this.state === 'waiting')) {
      this.attempts = 0
      this.connect()
    } else if (change === 'visible' && this.state === 'waiting') {
      this.connect()
    } else if (change === 'offline' && this.state === 'waiting') {
      clearTimeout(this.timer)
      this.timer = undefined
      this.set('offline')
    }
  }

  private set(state: LinkStatus) {
    const changed = this.state !== state
    this.state = state
    // Every attempt is reported, even a `connecting` after a `connecting`, so hosts can count them.
    if (changed || state === 'connecting') this.options.onStatus(state)
  }
}
