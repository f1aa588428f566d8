import type { Address, Frame, Item, StreamError } from './types.ts'

/** What a channel tells the subscriptions that share it. */
export interface ChannelObserver {
  changed(): void
  event(type: string, data: unknown): void
}

/** Refusals that asking again will not change: the subscription is parked until `stream.reconnect()`. */
const FINAL_REFUSALS = new Set(['STREAM_ACCESS_DENIED', 'PERMISSION_DENIED', 'NOT_FOUND', 'INVALID_ARGUMENT', 'UNAUTHENTICATED'])

/**
 * A refusal that another attempt may fix (the gateway could not re-sync a subscription, say): the gateway
 * dropped the subscription, so a shared connection reconnects, with back-off, and joins it again.
 */
export const isRetryableRefusal = (frame: Frame) => {
  const refusal = refusalOf(frame)
  return refusal !== undefined && !FINAL_REFUSALS.has(refusal.code)
}

export const addressKey = ({ streamName, groupId, id }: Address) => (id ? `${streamName}\u0000${groupId}\u0000${id}` : `${streamName}\u0000${groupId}`)
export const groupKeyOf = ({ streamName, groupId }: Address) => `${streamName}\u0000${groupId}`

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isItem = (value: unknown): value is Item => isObject(value) && typeof value.id === 'string'

/** A gateway's refusal of a join: a custom `error` event outside the log (no sequence), with a code. */
export function refusalOf(frame: Frame): { code: string; message: string } | undefined {
  if (frame.event.type !== 'event' || frame.sequence !== undefined) return undefined
  const custom = frame.event.event
  if (custom?.type !== 'error' || !isObject(custom.data) || typeof custom.data.code !== 'string') return undefined
  return { code: custom.data.code, message: typeof custom.data.message === 'string' ? custom.data.message : custom.data.code }
}

/**
 * The state of one address (an item, or a whole group) on the client, shared by every subscription to it.
 *
 * Frames are ordered by `sequence`, the position in the group's log: anything not newer than what the
 * channel has applied is dropped, so replays after a resume and overlapping deliveries are harmless. A sync
 * always replaces the state and the position (a `reset` sync comes from a new log: sequences start over).
 * Changes that arrive before the first sync are dropped (the sync covers them); custom events are not.
 * Frames without a sequence (Motia's own servers) fall back to timestamps, keeping equal ones.
 *
 * Each item's version (the sequence of the change that last wrote it, what REST's ETag says) comes from the
 * sync's `versions` and then from every change's `sequence`; Motia's servers send neither, so there it is
 * unknown.
 */
export class Channel {
  readonly key: string
  readonly groupKey: string
  /** Has a state from the gateway (a sync, a resumed replay, or, from Motia servers, any change). */
  synced = false
  /** The sequence of the last applied frame; -1 before any. */
  seq = -1
  /** The resume token of the last applied frame. */
  token: string | undefined
  /** Bumped on every state change. */
  version = 0
  refused: { code: string; message: string } | undefined
  readonly observers = new Set<ChannelObserver>()

  private item: Item | null = null
  private readonly items = new Map<string, Item>()
  private list: Item[] | undefined
  private readonly versions = new Map<string, number>()
  private versionsCopy: ReadonlyMap<string, number> | undefined
  private lastTimestamp = 0

  constructor(
    readonly address: Address,
    readonly subscriptionId: string,
    private readonly report: (error: StreamError) => void,
  ) {
    this.key = addressKey(address)
    this.groupKey = groupKeyOf(address)
  }

  get isItem() {
    return Boolean(this.address.id)
  }

  /** The item (or null), or the group's items in log order (a new array after each change). */
  state(): Item | null | Item[] {
    if (this.isItem) return this.item
    return (this.list ??= [...this.items.values()])
  }

  /** The item's version as last delivered; undefined when it is not here or its version is unknown. */
  versionOf(id: string): number | undefined {
    return this.versions.get(id)
  }

  /** Every item's version, as of now and unchanged by later frames (a new map after each change). */
  versionsNow(): ReadonlyMap<string, number> {
    return (this.versionsCopy ??= new Map(this.versions))
  }

  receive(frame: Frame) {
    if (typeof frame !== 'object' || frame === null || typeof frame.event?.type !== 'string') {
      return this.report({ kind: 'protocol', message: 'a frame without an event', address: this.address })
    }
    const refusal = refusalOf(frame)
    if (refusal) return this.refuse(refusal.code, refusal.message)
    const { event } = frame
    if (event.type === 'event') {
      if (!this.accept(frame, true)) return
      const custom = event.event
      if (isObject(custom) && typeof custom.type === 'string') this.emit(custom.type, custom.data)
      return
    }
    if (event.type !== 'sync' && event.type !== 'create' && event.type !== 'update' && event.type !== 'delete') return
    if (!this.accept(frame, false)) return
    const data = (event as { data?: unknown }).data
    if (event.type === 'sync') this.replace(data, frame.versions)
    else if (!isItem(data)) return this.report({ kind: 'protocol', message: `a ${event.type} frame without an item`, address: this.address })
    else {
      if (this.isItem) this.item = event.type === 'delete' ? null : data
      else if (event.type === 'delete') this.items.delete(data.id)
      else this.items.set(data.id, data)
      // A conflated frame's sequence is the oldest merged change's place, not the item's version: unknown.
      if (event.type === 'delete' || typeof frame.sequence !== 'number' || (frame.conflated ?? 1) > 1) this.versions.delete(data.id)
      else this.versions.set(data.id, frame.sequence)
    }
    this.synced = true
    this.version++
    this.list = undefined
    this.versionsCopy = undefined
    for (const observer of this.observers) observer.changed()
  }

  /** Refused by the gateway: subscribers get Motia's `error` custom event `{code, message}`. */
  refuse(code: string, message: string) {
    if (FINAL_REFUSALS.has(code)) this.refused = { code, message }
    this.report({ kind: 'refused', code, message, address: this.address })
    this.emit('error', { code, message })
  }

  /** Whether the frame is newer than what was applied; advances the position when it is. */
  private accept(frame: Frame, custom: boolean): boolean {
    const sync = frame.event.type === 'sync'
    if (typeof frame.sequence === 'number') {
      if (sync) {
        this.seq = frame.sequence
        this.token = frame.resumeToken
        return true
      }
      // Before the sync: a change is covered by the sync to come, an event is not.
      if (!this.synced) return custom
      if (frame.sequence <= this.seq) return false
      this.seq = frame.sequence
      this.token = frame.resumeToken
      return true
    }
    const timestamp = typeof frame.timestamp === 'number' ? frame.timestamp : 0
    if (timestamp < this.lastTimestamp) return false
    this.lastTimestamp = timestamp
    return true
  }

  private replace(data: unknown, versions: unknown) {
    this.versions.clear()
    const known = isObject(versions) ? versions : {}
    const keep = (item: Item) => {
      const version = Object.hasOwn(known, item.id) ? known[item.id] : undefined
      if (typeof version === 'number') this.versions.set(item.id, version)
    }
    if (this.isItem) {
      this.item = isItem(data) ? data : null
      if (this.item) keep(this.item)
      return
    }
    this.items.clear()
    if (!Array.isArray(data)) return this.report({ kind: 'protocol', message: 'a group sync without an array', address: this.address })
    for (const item of data) {
      if (!isItem(item)) continue
      this.items.set(item.id, item)
      keep(item)
    }
  }

  private emit(type: string, data: unknown) {
    for (const observer of this.observers) observer.event(type, data)
  }
}
