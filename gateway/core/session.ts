import type { Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import { groupKey } from '../model/group-key.ts'
import type { Address, LogRecord, Snapshot } from '../model/records.ts'
import type { Metrics, Transport } from '../observability/metrics.ts'
import type { Store } from '../store/store.ts'
import type { Caller, Log } from './auth.ts'
import { type Delivery, deliveryOf } from './delivery.ts'
import { type Disconnect, disconnectMessage } from './disconnect.ts'
import type { Follower, Hub } from './hub.ts'
import { checkAddress } from './input-checks.ts'
import type { Limits } from './limits.ts'
import { type Entry, OutboundQueue } from './outbound-queue.ts'
import { Positions } from './positions.ts'
import { type LogPosition, parseResumeToken } from './resume-token.ts'
import type { Wire, WireFormat } from './wire.ts'

/** What a session needs of the gateway. */
export interface SessionContext {
  readonly hub: Hub
  readonly store: Store
  readonly limits: Limits
  readonly metrics: Metrics
  readonly logger: Logger
  /** The open sessions, for what is measured over all of them when metrics are scraped. */
  readonly sessions: Set<Session>
  authorize(caller: Caller, address: Address): Promise<void>
}

/** The subscriptions of one client connection: over HTTP/2, shared by every stream of one session. */
export interface SubscriptionBudget {
  used: number
}

export interface SessionOptions {
  caller: Caller
  transport: Transport
  format: WireFormat
  wire: Wire
  /** Defaults to the session's own: one connection, one session. */
  budget?: SubscriptionBudget
}

interface ActiveSubscription {
  id: string
  address: Address
  key: string
  /** Records up to this seq, in this epoch, are covered by what the client already got (sync or replay). */
  fromSeq: number
  epoch: string
  /** Records that arrive while the sync is being prepared; null once live. */
  buffer: Delivery[] | null
  /** Counts catch-ups, so a re-sync that overtakes an earlier one wins. */
  attempt: number
}

const RESYNC_RETRY_MS = 1000

const covers = (sub: ActiveSubscription, record: LogRecord) => sub.address.id === undefined || sub.address.id === record.id
/** A record the subscription has not got yet: newer, and from the log its position is in. */
const isNewFor = (sub: ActiveSubscription, record: LogRecord) => record.seq > sub.fromSeq && record.epoch === sub.epoch

/**
 * A group the connection follows: its subscriptions (usually one: an array costs a connection less than a
 * set) and the seq of the last record of it this connection got.
 */
interface FollowedGroup {
  subs: ActiveSubscription[]
  lastSent: number
}

/**
 * One client connection: its subscriptions, and its outbound queue. Joining registers first, then reads the
 * snapshot, then flushes what arrived meanwhile, so no change is lost or doubled after the sync. A connection
 * gets each record once, however many of its subscriptions it matches (Motia's clients route one copy to all
 * of them). Frames wait in the queue until the hub's round lets the session write them, all in one write; a
 * socket that does not keep up makes them wait longer (and conflate), up to the hard limit, which closes the
 * connection.
 */
export class Session implements Follower {
  private readonly subscriptions = new Map<string, ActiveSubscription>()
  private readonly groups = new Map<string, FollowedGroup>()
  private readonly queue: OutboundQueue
  private readonly budget: SubscriptionBudget
  private positions: Positions | undefined
  private writable = true
  private flushWanted = false
  private closed = false
  readonly caller: Caller
  readonly transport: Transport
  private readonly format: WireFormat
  private readonly wire: Wire
  private readonly framesDelivered: { inc(count: number): void }
  /** The connection's own log (its lines name it), or the gateway's for an in-process session. */
  private readonly log: Log

  constructor(
    private readonly context: SessionContext,
    options: SessionOptions,
  ) {
    ;({ caller: this.caller, transport: this.transport, format: this.format, wire: this.wire } = options)
    this.log = this.caller.kind === 'client' ? this.caller.log : context.logger
    this.budget = options.budget ?? { used: 0 }
    this.queue = new OutboundQueue(this.format, context.limits)
    this.framesDelivered = context.metrics.framesDeliveredOn[this.transport]
    context.sessions.add(this)
  }

  /** Bytes waiting in the outbound queue, not yet handed to the wire. */
  get queuedBytes() {
    return this.queue.bytes
  }

  /**
   * `resumeFrom` is where the client's state stands in the group's log (from its resume token); when the
   * history still covers it, only the missed records follow, else a sync with `reset`. `resumeFrom: null`
   * says the client offered a token that was unusable: a sync with `reset`. Never rejects: a refusal goes
   * to the wire.
   */
  async subscribe(subscriptionId: string, address: Address, resumeFrom?: LogPosition | null): Promise<void> {
    const { limits, metrics, hub } = this.context
    const previous = this.subscriptions.get(subscriptionId)
    if (previous) this.remove(previous)
    if (this.closed) return
    try {
      checkAddress(address, false, limits)
      if (this.budget.used >= limits.maxSubscriptionsPerConnection) {
        throw new GatewayError('RESOURCE_EXHAUSTED', `at most ${limits.maxSubscriptionsPerConnection} subscriptions per connection`)
      }
      const sub: ActiveSubscription = { id: subscriptionId, address, key: groupKey(address.streamName, address.groupId), fromSeq: 0, epoch: '', buffer: [], attempt: 0 }
      this.subscriptions.set(subscriptionId, sub)
      this.budget.used += 1
      metrics.subscriptions.inc({ transport: this.transport })
      await this.context.authorize(this.caller, address)
      if (!this.isCurrent(sub)) return
      let group = this.groups.get(sub.key)
      if (!group) {
        this.groups.set(sub.key, (group = { subs: [], lastSent: 0 }))
        hub.add(address.streamName, address.groupId, this)
      }
      // A connection gets each record of a group once, so only the first subscription of a group replays
      // from its token; a later one, whose token may be older than what this connection already got for the
      // group, starts from a (non-reset) sync instead.
      const replayable = group.subs.length === 0
      group.subs.push(sub)
      await this.catchUp(sub, resumeFrom && !replayable ? undefined : resumeFrom)
    } catch (error) {
      const current = this.subscriptions.get(subscriptionId)
      if (current?.address === address) this.remove(current)
      if (this.closed) return
      if (!(error instanceof GatewayError)) this.log.error({ err: error, address }, 'subscription failed')
      const failure = error instanceof GatewayError ? error : new GatewayError('INTERNAL', 'subscription failed')
      metrics.rejectedInputs.inc({ transport: this.transport, reason: failure.code.toLowerCase() })
      try {
        this.wire.refused(subscriptionId, address, failure)
      } catch (wireError) {
        this.fail(wireError)
      }
    }
  }

  /**
   * Several subscriptions resumed by one token for all their groups (SSE): `<epoch>.<seq>...` in the order
   * the addresses first name each group. Subscription ids are the addresses' indexes.
   */
  async subscribeAll(addresses: Address[], token: string | undefined): Promise<void> {
    const groups = [...new Set(addresses.map((a) => groupKey(a.streamName, a.groupId)))]
    const from = token === undefined ? undefined : parseResumeToken(token, groups.length)
    if (from === null) this.log.debug('unusable resume token: starting from a fresh sync')
    if (this.format.position) this.positions = new Positions(groups, from)
    const positionOf = (a: Address) => (from ? from[groups.indexOf(groupKey(a.streamName, a.groupId))] : from)
    await Promise.all(addresses.map((address, i) => this.subscribe(String(i), address, positionOf(address))))
  }

  /** Replays from the resume token when the history still covers it, else sends a sync. */
  private async catchUp(sub: ActiveSubscription, position: LogPosition | null | undefined) {
    const { store } = this.context
    const { streamName, groupId, id } = sub.address
    const attempt = ++sub.attempt
    const missed = position && (await store.history(streamName, groupId, position.epoch, position.seq))
    if (!this.isCurrent(sub, attempt)) return
    if (missed) {
      for (const record of missed) {
        if (covers(sub, record) && record.seq > this.lastSent(sub.key)) this.deliver(sub.key, deliveryOf(record))
      }
      sub.fromSeq = missed.at(-1)?.seq ?? position.seq
      sub.epoch = position.epoch
      this.goLive(sub, false)
      return
    }
    const snapshot = await this.context.hub.snapshot(streamName, groupId, id)
    if (!this.isCurrent(sub, attempt)) return
    sub.fromSeq = snapshot.seq
    sub.epoch = snapshot.epoch
    this.sync(sub, snapshot, position !== undefined)
    this.goLive(sub, true)
  }

  private goLive(sub: ActiveSubscription, afterSync: boolean) {
    const buffered = sub.buffer ?? []
    sub.buffer = null
    const sent = this.lastSent(sub.key)
    for (const delivery of buffered) {
      const record = delivery.record
      if (!isNewFor(sub, record)) continue
      if (record.seq > this.lastSent(sub.key)) this.deliver(sub.key, delivery)
      // This connection already got the record through another subscription, but the sync that was just
      // sent predates it and may have rewound the client's group state: state changes are replayed
      // (idempotent), custom events are not (they must fire once).
      else if (afterSync && record.kind !== 'event' && record.seq <= sent) this.enqueue(delivery)
    }
  }

  /** The seq of the last record of the group this connection got (0: none since it followed or re-synced). */
  private lastSent(key: string) {
    return this.groups.get(key)?.lastSent ?? 0
  }

  private deliver(key: string, delivery: Delivery) {
    const group = this.groups.get(key)
    if (group) group.lastSent = delivery.record.seq
    this.enqueue(delivery)
  }

  private enqueue(delivery: Delivery) {
    if (this.closed) return
    if (this.queue.pushRecord(delivery)) this.wantFlush()
    else this.end('slow_consumer')
  }

  private sync(sub: ActiveSubscription, snapshot: Snapshot, reset: boolean) {
    const frame = this.context.hub.syncFrame(this.format, sub.address, snapshot, reset)
    if (this.queue.pushSync(frame, sub.key, snapshot.epoch, snapshot.seq)) this.wantFlush()
    else this.end('slow_consumer')
  }

  private wantFlush() {
    if (this.flushWanted) return
    this.flushWanted = true
    this.context.hub.wantsFlush(this)
  }

  /** Called by the hub for every record of a group this session follows. */
  offer(key: string, delivery: Delivery) {
    const group = this.groups.get(key)
    if (!group) return
    const record = delivery.record
    let live = false
    for (const sub of group.subs) {
      if (!covers(sub, record)) continue
      if (sub.buffer) sub.buffer.push(delivery)
      else if (isNewFor(sub, record)) live = true
    }
    if (!live || record.seq <= group.lastSent) return
    try {
      this.deliver(key, delivery)
    } catch (error) {
      this.fail(error)
    }
  }

  /** Hands everything queued to the wire in one write, unless the socket is still full. */
  flush() {
    this.flushWanted = false
    if (this.closed || !this.writable || this.queue.empty) return
    try {
      const frames: Buffer[] = []
      let count = 0
      for (const entry of this.queue.take()) {
        if (entry.type === 'record' && entry.dropped) continue
        count += 1
        if (this.positions) {
          const record = entry.type === 'record' ? entry.delivery.record : undefined
          if (record) this.positions.advance(groupKey(record.streamName, record.groupId), record.epoch, record.seq, false)
          else if (entry.type === 'sync') this.positions.advance(entry.groupKey, entry.epoch, entry.seq, true)
          frames.push(this.format.position!(this.positions.token()))
        }
        frames.push(this.frameOf(entry))
      }
      this.writable = this.wire.write(frames)
      this.framesDelivered.inc(count)
    } catch (error) {
      this.fail(error)
    }
  }

  private frameOf(entry: Entry): Buffer {
    if (entry.type === 'sync') return entry.frame
    if (!entry.merged) return entry.delivery.bytes(this.format)
    const { kind, latest, count } = entry.merged
    return this.format.record({ ...(entry.delivery.record as typeof latest), kind, item: latest.item }, count)
  }

  /** The transport's socket drained: what waited is written in the next round. */
  drained() {
    this.writable = true
    if (!this.queue.empty) this.wantFlush()
  }

  /**
   * Re-syncs every subscription of a group whose records may have been missed: each gets a fresh sync
   * marked as a reset. The group's log may have restarted (a new epoch), so its positions start over.
   */
  resync(key: string) {
    const group = this.groups.get(key)
    if (!group) return
    group.lastSent = 0
    for (const sub of group.subs) this.resyncOne(sub)
  }

  /** While the store cannot answer (it just lost its connection), keep trying: the client stays subscribed. */
  private resyncOne(sub: ActiveSubscription) {
    sub.buffer = []
    this.catchUp(sub, null).catch((error) => {
      this.log.warn({ err: error, address: sub.address }, 're-sync failed; retrying in 1 s')
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
    this.budget.used -= 1
    this.context.metrics.subscriptions.dec({ transport: this.transport })
    const group = this.groups.get(sub.key)
    const at = group ? group.subs.indexOf(sub) : -1
    if (at < 0) return
    group!.subs.splice(at, 1)
    if (group!.subs.length > 0) return
    this.groups.delete(sub.key)
    this.context.hub.remove(sub.address.streamName, sub.address.groupId, this)
  }

  private fail(error: unknown) {
    this.log.error({ err: error, transport: this.transport }, 'delivery failed; closing the connection')
    this.end('internal')
  }

  /** The core ends the connection: the transport is told why, then nothing more is written. */
  end(reason: Disconnect) {
    if (this.closed) return
    this.close()
    if (reason === 'slow_consumer') {
      this.context.metrics.queueLimitCloses.inc({ transport: this.transport })
      this.log.warn({ transport: this.transport }, disconnectMessage.slow_consumer)
    }
    this.wire.close(reason)
  }

  /** The connection is gone (or ends): every subscription is released, queued frames are dropped. */
  close() {
    if (this.closed) return
    for (const sub of [...this.subscriptions.values()]) this.remove(sub)
    this.closed = true
    this.queue.take()
    this.context.sessions.delete(this)
  }
}
