import type { BackoffOptions } from './backoff.ts'
import { addressKey, Channel, type ChannelObserver, groupKeyOf } from './channel.ts'
import { Lifeline, type LinkStatus, type Open, type TokenResult } from './lifeline.ts'
import { browserNetwork, type NetworkMonitor } from './network.ts'
import { type SseTransportOptions, sseTransport } from './sse.ts'
import { StreamGroupSubscription, StreamItemSubscription, type SubscriptionHost } from './subscription.ts'
import type { Transport, TransportConnection, TransportHost } from './transport.ts'
import type { Address, Frame, Item, StreamError, StreamStatus } from './types.ts'
import { type WebSocketLike, websocketTransport } from './websocket.ts'

export interface StreamOptions {
  /** `websocket` (default: Motia's frames), `sse` (one multiplexed stream), or a transport object. */
  transport?: 'websocket' | 'sse' | Transport
  /** WebSocket subprotocols, as Motia's `protocols` option (e.g. `['Authorization', token]`). */
  protocols?: string | string[]
  /**
   * The token, or a function that returns it, called again before every (re)connection so a refreshed token
   * is used. WebSocket: `?authToken=` (or the `Authorization` subprotocol pair, `websocket.authVia`); SSE:
   * `Authorization: Bearer`; Connect: the `authorization` header.
   */
  auth?: string | null | (() => TokenResult | Promise<TokenResult>)
  /** Reconnect delays: exponential with full jitter between attempts (default 250 ms doubling up to 30 s). */
  backoff?: BackoffOptions
  /** Network errors, refusals and throwing listeners are reported here; nothing is thrown at the host. */
  onError?: (error: StreamError) => void
  /** Online/offline and page visibility; the default reads the browser's (always online in Node). */
  network?: NetworkMonitor
  /** Options of the built-in `websocket` transport (e.g. the `WebSocket` class in Node 20: `ws`). */
  websocket?: { WebSocket?: WebSocketLike; authVia?: 'query' | 'protocol' }
  /** Options of the built-in `sse` transport. */
  sse?: SseTransportOptions
  /** Every frame as received, before the reducers (for logging and tests). */
  onFrame?: (frame: Frame) => void
  /** For tests: the random source of the back-off jitter. */
  random?: () => number
}

const randomId = (): string => {
  const cryptoApi = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (typeof cryptoApi?.randomUUID === 'function') {
    try {
      return cryptoApi.randomUUID()
    } catch {
      // not a secure context
    }
  }
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16)
  })
}

const nonEmpty = (value: unknown, what: string) => {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string`)
}

const statusOf = (links: Iterable<LinkStatus>): StreamStatus => {
  let result: StreamStatus = 'idle'
  const rank: Record<StreamStatus, number> = { idle: 0, open: 1, connecting: 2, reconnecting: 3, offline: 4, closed: -1 }
  for (const link of links) {
    const status: StreamStatus = link === 'waiting' ? 'reconnecting' : link === 'closed' ? 'idle' : link
    if (rank[status] > rank[result]) result = status
  }
  return result
}

/**
 * A connection to a streamgate (or Motia) server, with Motia's client API: `subscribeItem`,
 * `subscribeGroup`, `close`. Nothing goes over the network before the first subscription.
 *
 * ```ts
 * const stream = new Stream('ws://localhost:3000', { transport: 'sse', auth: () => getToken() })
 * const todos = stream.subscribeGroup<Todo>('todo', 'inbox')
 * todos.addChangeListener((items) => render(items))
 * ```
 */
export class Stream {
  private attemptCount = 0
  private readonly channels = new Map<string, Channel>()
  private readonly releasing = new Set<Channel>()
  private readonly links = new Map<Lifeline, LinkStatus>()
  private readonly statusListeners = new Set<(status: StreamStatus) => void>()
  private readonly errorListeners = new Set<(error: StreamError) => void>()
  private readonly transport: Transport
  private connection: TransportConnection | undefined
  private currentStatus: StreamStatus = 'idle'
  private isClosed = false
  private readonly subscriptionHost: SubscriptionHost
  private readonly host: TransportHost

  constructor(
    readonly address: string,
    private readonly options: StreamOptions = {},
  ) {
    const { transport = 'websocket' } = options
    this.transport =
      transport === 'websocket' ? websocketTransport(options.websocket) : transport === 'sse' ? sseTransport(options.sse) : transport
    if (options.onError) this.errorListeners.add(options.onError)
    this.subscriptionHost = { release: (channel, observer) => this.release(channel, observer), report: (error) => this.report(error) }
    this.host = {
      address,
      protocols: options.protocols === undefined ? undefined : [options.protocols].flat(),
      lifeline: (open) => this.lifeline(open),
      route: (frame) => this.route(frame),
      deliver: (channel, frame) => {
        this.observe(frame)
        channel.receive(frame)
      },
      report: (error) => this.report(error),
    }
  }

  /** Connection attempts made so far, over every connection of this stream. */
  get attempts(): number {
    return this.attemptCount
  }

  /** The transport's name: `websocket`, `sse`, `connect`. */
  get transportName(): string {
    return this.transport.name
  }

  get status(): StreamStatus {
    return this.currentStatus
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Follows one item; its state is the item, or null when it does not exist. */
  subscribeItem<TData extends { id: string } = Item>(streamName: string, groupId: string, id: string): StreamItemSubscription<TData> {
    nonEmpty(id, 'id')
    const channel = this.acquire({ streamName, groupId, id })
    return new StreamItemSubscription<TData>(channel, this.isClosed ? undefined : this.subscriptionHost)
  }

  /** Follows a whole group; its state is the array of items, sorted by `sortKey` when given. */
  subscribeGroup<TData extends { id: string } = Item>(streamName: string, groupId: string, sortKey?: keyof TData): StreamGroupSubscription<TData> {
    const channel = this.acquire({ streamName, groupId })
    return new StreamGroupSubscription<TData>(channel, this.isClosed ? undefined : this.subscriptionHost, sortKey)
  }

  /** Called with the stream's status whenever it changes. Returns the function that stops it. */
  onStatusChange(listener: (status: StreamStatus) => void): () => void {
    this.statusListeners.add(listener)
    return () => this.statusListeners.delete(listener)
  }

  /** Called with every error (as `onError` is). Returns the function that stops it. */
  onError(listener: (error: StreamError) => void): () => void {
    this.errorListeners.add(listener)
    return () => this.errorListeners.delete(listener)
  }

  /**
   * Reconnects now, asking the token provider again, and retries refused subscriptions (after a login,
   * say). State and resume tokens are kept.
   */
  reconnect() {
    if (this.isClosed) return
    for (const channel of this.channels.values()) channel.refused = undefined
    this.connection?.reconnect()
  }

  /** Closes every connection and cancels pending reconnects for good; subscriptions stop receiving. */
  close() {
    if (this.isClosed) return
    this.isClosed = true
    const connection = this.connection
    this.connection = undefined
    connection?.close()
    for (const link of this.links.keys()) link.close()
    this.links.clear()
    for (const channel of this.channels.values()) channel.observers.clear()
    this.channels.clear()
    this.releasing.clear()
    this.setStatus('closed')
  }

  private acquire(address: Address): Channel {
    nonEmpty(address.streamName, 'streamName')
    nonEmpty(address.groupId, 'groupId')
    const key = addressKey(address)
    let channel = this.channels.get(key)
    if (channel) {
      this.releasing.delete(channel)
      return channel
    }
    channel = new Channel(address, randomId(), (error) => this.report(error))
    if (this.isClosed) return channel
    this.channels.set(key, channel)
    this.connection ??= this.transport.connect(this.host)
    this.connection.add(channel)
    return channel
  }

  /**
   * A channel nobody follows any more is dropped a moment later, so a subscription closed and opened again
   * in one go (React StrictMode, a re-render with the same address) keeps its state and costs no round trip.
   */
  private release(channel: Channel, _observer: ChannelObserver) {
    if (channel.observers.size > 0 || this.isClosed) return
    this.releasing.add(channel)
    queueMicrotask(() => {
      if (!this.releasing.delete(channel) || channel.observers.size > 0 || this.isClosed) return
      if (this.channels.get(channel.key) !== channel) return
      this.channels.delete(channel.key)
      this.connection?.remove(channel)
    })
  }

  private report(error: StreamError) {
    if (this.errorListeners.size === 0) return
    for (const listener of [...this.errorListeners]) {
      try {
        listener(error)
      } catch {
        // An error listener that throws has nowhere else to go.
      }
    }
  }

  private setStatus(status: StreamStatus) {
    if (status === this.currentStatus) return
    this.currentStatus = status
    for (const listener of [...this.statusListeners]) {
      try {
        listener(status)
      } catch (cause) {
        this.report({ kind: 'listener', message: `a status listener threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
      }
    }
  }

  private lifeline(open: Open): Lifeline {
    const { auth } = this.options
    const lifeline: Lifeline = new Lifeline(open, {
      backoff: this.options.backoff,
      network: this.options.network ?? browserNetwork,
      auth: typeof auth === 'function' ? auth : auth ? () => auth : undefined,
      random: this.options.random,
      onError: (error) => this.report(error),
      onStatus: (status) => {
        if (status === 'connecting') this.attemptCount++
        if (status === 'closed') this.links.delete(lifeline)
        else this.links.set(lifeline, status)
        if (!this.isClosed) this.setStatus(statusOf(this.links.values()))
      },
    })
    return lifeline
  }

  /**
   * Motia's routing, for transports that share one connection: a frame goes to the channel of its exact
   * address, and an item frame other than a sync also to its group's channel. A refusal goes only to the
   * subscription that was refused.
   */
  private observe(frame: Frame) {
    const { onFrame } = this.options
    if (!onFrame) return
    try {
      onFrame(frame)
    } catch (cause) {
      this.report({ kind: 'listener', message: `onFrame threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    }
  }

  private route(frame: Frame) {
    this.observe(frame)
    if (typeof frame !== 'object' || frame === null || typeof frame.streamName !== 'string' || typeof frame.groupId !== 'string') {
      return this.report({ kind: 'protocol', message: 'a frame without streamName and groupId' })
    }
    const id = typeof frame.id === 'string' && frame.id !== '' ? frame.id : undefined
    const address = { streamName: frame.streamName, groupId: frame.groupId, id }
    this.channels.get(addressKey(address))?.receive(frame)
    if (!id || frame.event?.type === 'sync') return
    const group = this.channels.get(groupKeyOf(address))
    if (group && !(frame.event?.type === 'event' && frame.sequence === undefined && frame.event.event?.type === 'error')) group.receive(frame)
  }
}
