import type { Channel, ChannelObserver } from './channel.ts'
import type { CustomEventListener, Item, JoinData, Listener, StreamError } from './types.ts'

/** What a subscription needs from its stream. */
export interface SubscriptionHost {
  release(channel: Channel, observer: ChannelObserver): void
  report(error: StreamError): void
}

/**
 * Motia's subscription API (`getState`, `addChangeListener`/`removeChangeListener`, `onEvent`/`offEvent`,
 * `onClose`, `close`, `sub`). Subscriptions to the same address share one channel, so a second
 * subscription starts with the state the first already has (`synced`).
 */
export abstract class StreamSubscription<TState = unknown> implements ChannelObserver {
  /** Motia's join data: the address and the subscription id used on the WebSocket. */
  readonly sub: JoinData
  private readonly changeListeners = new Set<Listener<TState>>()
  private readonly eventListeners = new Map<string, CustomEventListener[]>()
  private readonly closeListeners = new Set<() => void>()
  private isClosed = false

  constructor(
    protected readonly channel: Channel,
    private readonly host: SubscriptionHost | undefined,
  ) {
    const { streamName, groupId, id } = channel.address
    this.sub = id ? { streamName, groupId, id, subscriptionId: channel.subscriptionId } : { streamName, groupId, subscriptionId: channel.subscriptionId }
    if (host) channel.observers.add(this)
    else this.isClosed = true
  }

  /** The current state: the item (null when it does not exist) or the group's items. */
  abstract getState(): TState

  /** True once the gateway has delivered a state for this address (a sync, or a resumed replay). */
  get synced(): boolean {
    return this.channel.synced
  }

  get closed(): boolean {
    return this.isClosed
  }

  /**
   * The item's version: the sequence of the change that last wrote it, what REST's `ETag` says, so a write
   * can be conditional on what this subscription shows (`If-Match: "<version>"`). Undefined when the item is
   * not here, or the server does not send versions (Motia's own).
   */
  versionOf(id: string): number | undefined {
    return this.channel.versionOf(id)
  }

  /** Called with the new state after every change. */
  addChangeListener(listener: Listener<TState>) {
    this.changeListeners.add(listener)
  }

  removeChangeListener(listener: Listener<TState>) {
    this.changeListeners.delete(listener)
  }

  /** Called with `data` of every custom event of this type (`streams.x.send`); `error` reports refusals. */
  onEvent(type: string, listener: CustomEventListener) {
    this.eventListeners.set(type, [...(this.eventListeners.get(type) ?? []), listener])
  }

  offEvent(type: string, listener: CustomEventListener) {
    const listeners = (this.eventListeners.get(type) ?? []).filter((l) => l !== listener)
    if (listeners.length) this.eventListeners.set(type, listeners)
    else this.eventListeners.delete(type)
  }

  onClose(listener: () => void) {
    this.closeListeners.add(listener)
  }

  /** Stops following: the gateway is told (leave, a narrower SSE stream, the call cancelled) once no one else follows the address. */
  close() {
    if (this.isClosed) return
    this.isClosed = true
    this.channel.observers.delete(this)
    this.host?.release(this.channel, this)
    for (const listener of this.closeListeners) this.call(listener, undefined)
    this.closeListeners.clear()
    this.changeListeners.clear()
    this.eventListeners.clear()
  }

  /** @internal */
  changed() {
    const state = this.getState()
    for (const listener of [...this.changeListeners]) this.call(listener, state)
  }

  /** @internal */
  event(type: string, data: unknown) {
    for (const listener of this.eventListeners.get(type) ?? []) this.call(listener, data)
  }

  private call<T>(listener: (value: T) => void, value: T) {
    try {
      listener(value)
    } catch (cause) {
      this.host?.report({ kind: 'listener', message: `a listener threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    }
  }
}

export class StreamItemSubscription<TData = Item> extends StreamSubscription<TData | null> {
  getState(): TData | null {
    return this.channel.state() as TData | null
  }

  /** The item's version (see `versionOf`); undefined while it does not exist. */
  get version(): number | undefined {
    return this.channel.versionOf(this.channel.address.id!)
  }
}

/**
 * Orders by `sortKey` when given: numbers numerically, everything else as strings (`localeCompare`),
 * missing values last; ties keep the group's order. (Motia compares every value as a string and leaves
 * falsy ones in place, so 10 sorts before 9 there.)
 */
export function compareBy<T>(sortKey: keyof T) {
  return (a: T, b: T) => {
    const x = a[sortKey] as unknown
    const y = b[sortKey] as unknown
    const xMissing = x === undefined || x === null
    const yMissing = y === undefined || y === null
    if (xMissing || yMissing) return xMissing === yMissing ? 0 : xMissing ? 1 : -1
    if (typeof x === 'number' && typeof y === 'number') return x - y
    return String(x).localeCompare(String(y))
  }
}

export class StreamGroupSubscription<TData extends { id: string } = Item> extends StreamSubscription<TData[]> {
  private sorted: TData[] | undefined
  private sortedVersion = -1

  constructor(
    channel: Channel,
    host: SubscriptionHost | undefined,
    readonly sortKey?: keyof TData,
  ) {
    super(channel, host)
  }

  /** Every item's version as of now, unchanged by later frames: what a view of `getState()` pairs with. */
  versionsNow(): ReadonlyMap<string, number> {
    return this.channel.versionsNow()
  }

  getState(): TData[] {
    const items = this.channel.state() as unknown as TData[]
    if (this.sortKey === undefined) return items
    if (this.sortedVersion !== this.channel.version || !this.sorted) {
      this.sorted = [...items].sort(compareBy(this.sortKey))
      this.sortedVersion = this.channel.version
    }
    return this.sorted
  }
}
