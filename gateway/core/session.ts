import type { Caller } from './auth.ts'
import { GatewayError } from '../model/errors.ts'
import { checkAddress, type Gateway } from './gateway.ts'
import type { LogPosition } from './resume-token.ts'
import type { Address, LogRecord, Snapshot } from '../model/records.ts'
import type { Transport } from '../observability/metrics.ts'
import { groupKey } from '../model/group-key.ts'

/** How a session reaches its connection; implemented by each transport. */
export interface SessionSink {
  /** A change or custom event: called at most once per record per session, in log order per group. */
  record(record: LogRecord): void
  /** The subscription's state; `reset` when a resume token was given but could not be honoured. */
  sync(subscriptionId: string, address: Address, snapshot: Snapshot, reset: boolean): void
  refused(subscriptionId: string, address: Address, error: GatewayError): void
}

interface ActiveSubscription {
  id: string
  address: Address
  key: string
  /** Records up to this seq, in this epoch, are covered by what the client already got (sync or replay). */
  fromSeq: number
  epoch: string
  /** Records that arrive while the sync is being prepared; null once live. */
  buffer: LogRecord[] | null
  /** Counts catch-ups, so a re-sync that overtakes an earlier one wins. */
  attempt: number
}

const RESYNC_RETRY_MS = 1000


const covers = (sub: ActiveSubscription, record: LogRecord) => sub.address.id === undefined || sub.address.id === record.id
/** A record the subscription has not got yet: newer, and from the log its position is in. */
const isNewFor = (sub: ActiveSubscription, record: LogRecord) => record.seq > sub.fromSeq && record.epoch === sub.epoch

/**
 * One client connection's subscriptions. Joining registers first, then reads the snapshot, then flushes what
 * arrived meanwhile, so no change is lost or doubled after the sync. A connection gets each record once,
 * however many of its subscriptions it matches (Motia's clients route one copy to all of them).
 */
export class Session {
  private readonly subscriptions = new Map<string, ActiveSubscription>()
  private readonly byGroup = new Map<string, Set<ActiveSubscription>>()
  private readonly lastSent = new Map<string, number>()
  private closed = false

  constructor(
    private readonly gateway: Gateway,
    readonly caller: Caller,
    private readonly sink: SessionSink,
    readonly transport: Transport,
  ) {}

  /**
   * `resumeFrom` is where the client's state stands in the group's log (from its resume token); when the
   * history still covers it, only the missed records follow, else a sync with `reset`. `resumeFrom: null`
   * says the client offered a token that was unusable: a sync with `reset`.
   */
  async subscribe(subscriptionId: string, address: Address, resumeFrom?: LogPosition | null): Promise<void> {
    const previous = this.subscriptions.get(subscriptionId)
    if (previous) this.remove(previous)
    try {
      checkAddress(address, false)
      if (this.subscriptions.size >= this.gateway.limits.maxSubscriptionsPerConnection) {
        throw new GatewayError('RESOURCE_EXHAUSTED', `at most ${this.gateway.limits.maxSubscriptionsPerConnection} subscriptions per connection`)
      }
      const sub: ActiveSubscription = { id: subscriptionId, address, key: groupKey(address.streamName, address.groupId), fromSeq: 0, epoch: '', buffer: [], attempt: 0 }
      this.subscriptions.set(subscriptionId, sub)
      this.gateway.metrics.subscriptions.inc({ transport: this.transport })
      await this.gateway.authorize(this.caller, address)
      if (!this.isCurrent(sub)) return
      let group = this.byGroup.get(sub.key)
      if (!group) {
        this.byGroup.set(sub.key, (group = new Set()))
        this.gateway.hub.add(address.streamName, address.groupId, this)
      }
      // A connection gets each record of a group once, so only the first subscription of a group replays
      // from its token; a later one, whose token may be older than what this connection already got for the
      // group, starts from a (non-reset) sync instead.
      const replayable = group.size === 0
      group.add(sub)
      await this.catchUp(sub, resumeFrom && !replayable ? undefined : resumeFrom)
    } catch (error) {
      const current = this.subscriptions.get(subscriptionId)
      if (current?.address === address) this.remove(current)
      if (this.closed) return
      this.sink.refused(subscriptionId, address, error instanceof GatewayError ? error : new GatewayError('INTERNAL', 'subscription failed'))
      if (!(error instanceof GatewayError)) throw error
    }
  }

  /** Replays from the resume token when the history still covers it, else sends a sync. */
  private async catchUp(sub: ActiveSubscription, position: LogPosition | null | undefined) {
    const { streamName, groupId, id } = sub.address
    const attempt = ++sub.attempt
    const missed = position && (await this.gateway.store.history(streamName, groupId, position.epoch, position.seq))
    if (!this.isCurrent(sub, attempt)) return
    if (missed) {
      for (const record of missed) {
        if (covers(sub, record) && record.seq > (this.lastSent.get(sub.key) ?? 0)) this.deliver(sub.key, record)
      }
      sub.fromSeq = missed.at(-1)?.seq ?? position.seq
      sub.epoch = position.epoch
      this.goLive(sub, false)
      return
    }
    const snapshot = await this.gateway.store.snapshot(streamName, groupId, id)
    if (!this.isCurrent(sub, attempt)) return
    sub.fromSeq = snapshot.seq
    sub.epoch = snapshot.epoch
    this.sink.sync(sub.id, sub.address, snapshot, position !== undefined)
    this.goLive(sub, true)
  }

  private goLive(sub: ActiveSubscription, afterSync: boolean) {
    const buffered = sub.buffer ?? []
    sub.buffer = null
    const sent = this.lastSent.get(sub.key) ?? 0
    for (const record of buffered) {
      if (!isNewFor(sub, record)) continue
      if (record.seq > (this.lastSent.get(sub.key) ?? 0)) this.deliver(sub.key, record)
      // This connection already got the record through another subscription, but the sync that was just
      // sent predates it and may have rewound the client's group state: state changes are replayed
      // (idempotent), custom events are not (they must fire once).
      else if (afterSync && record.kind !== 'event' && record.seq <= sent) this.sink.record(record)
    }
  }

  private deliver(key: string, record: LogRecord) {
    this.lastSent.set(key, record.seq)
    this.sink.record(record)
  }

  /** Called by the hub for every record of a group this session follows. */
  offer(key: string, record: LogRecord) {
    const subs = this.byGroup.get(key)
    if (!subs) return
    let live = false
    for (const sub of subs) {
      if (!covers(sub, record)) continue
      if (sub.buffer) sub.buffer.push(record)
      else if (isNewFor(sub, record)) live = true
    }
    if (live && record.seq > (this.lastSent.get(key) ?? 0)) this.deliver(key, record)
  }

  /**
   * Re-syncs every subscription of a group whose records may have been missed: each gets a fresh sync
   * marked as a reset. The group's log may have restarted (a new epoch), so its positions start over.
   */
  resync(key: string) {
    this.lastSent.delete(key)
    for (const sub of this.byGroup.get(key) ?? []) this.resyncOne(sub)
  }

  /** While the store cannot answer (it just lost its connection), keep trying: the client stays subscribed. */
  private resyncOne(sub: ActiveSubscription) {
    sub.buffer = []
    this.catchUp(sub, null).catch((error) => {
      this.gateway.logger.warn({ err: error, address: sub.address }, 're-sync failed; retrying in 1 s')
      setTimeout(() => this.isCurrent(sub) && this.resyncOne(sub), RESYNC_RETRY_MS).unref()
    })
  }

  unsubscribe(subscriptionId: string) {
    const sub = this.subscriptions.get(subscriptionId)
    if (sub) this.remove(sub)
  }

  private isCurrent(sub: ActiveSubscription, attempt = sub.attempt) {
    return !this.closed && this.subscriptions.get(sub.id) === sub && sub.attempt === attempt
  }

  private remove(sub: ActiveSubscription) {
    this.subscriptions.delete(sub.id)
    this.gateway.metrics.subscriptions.dec({ transport: this.transport })
    const group = this.byGroup.get(sub.key)
    if (!group?.delete(sub) || group.size > 0) return
    this.byGroup.delete(sub.key)
    this.lastSent.delete(sub.key)
    this.gateway.hub.remove(sub.address.streamName, sub.address.groupId, this)
  }

  close() {
    for (const sub of [...this.subscriptions.values()]) this.remove(sub)
    this.closed = true
  }
}
