import type { Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import type { Address, CustomEvent, GroupInfo, Item, JsonObject, LogRecord } from '../model/records.ts'
import type { Metrics, Transport } from '../observability/metrics.ts'
import type { Store, VersionedItem } from '../store/store.ts'
import { type AuthRequest, type Caller, type Hooks, type Via } from './auth.ts'
import { checkConditions, DEFAULT_IDEMPOTENCY_TTL_SECONDS, idempotencyOf, type SetConditions, type WriteConditions } from './conditions.ts'
import { ExpirySweeper } from './expiry-sweeper.ts'
import { Hub } from './hub.ts'
import { checkAddress, checkName, checkPayload } from './input-checks.ts'
import type { Limits } from './limits.ts'
import type { StreamRegistry } from './registry.ts'
import { Session, type SessionContext, type SessionOptions } from './session.ts'

export interface GatewayOptions {
  registry: StreamRegistry
  store: Store
  hooks: Hooks
  limits: Limits
  metrics: Metrics
  logger: Logger
  /** How long an Idempotency-Key's answer is remembered (default 24 h). */
  idempotencyTtlSeconds?: number
}

/** A page of a stream's groups; `next` is where the following page starts, when there is one. */
export interface GroupPage {
  groups: GroupInfo[]
  next?: string
}

export const DEFAULT_GROUP_PAGE = 100
export const MAX_GROUP_PAGE = 1000

export interface SetResult {
  item: Item
  created: boolean
  /** The write's record; for a replayed Idempotency-Key, the first write's. Its seq is the item's version. */
  record: LogRecord
}

/** A write refused by a condition, counted: the caller sees it, and an operator sees contention. */
const countPrecondition = (metrics: Metrics) => (error: unknown) => {
  if (error instanceof GatewayError && error.code === 'FAILED_PRECONDITION') metrics.preconditionFailures.inc()
  throw error
}

const isPlainObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The StreamService of the contract, for every transport: the same validation, limits, authorisation, errors
 * and subscription semantics whichever wire a call arrived on.
 */
export class Gateway implements SessionContext {
  readonly hub: Hub
  readonly registry: StreamRegistry
  readonly store: Store
  readonly limits: Limits
  readonly metrics: Metrics
  readonly logger: Logger
  readonly sessions = new Set<Session>()
  private readonly hooks: Hooks
  private readonly idempotencyTtlSeconds: number
  private readonly sweeper: ExpirySweeper

  constructor(options: GatewayOptions) {
    ;({ registry: this.registry, store: this.store, limits: this.limits, metrics: this.metrics, logger: this.logger, hooks: this.hooks } = options)
    this.idempotencyTtlSeconds = options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS
    this.hub = new Hub(this.store, this.metrics.deliveryLag)
    this.metrics.measureQueuedBytes(() => this.queuedBytes())
    this.store.subscribe({
      record: (record) => this.hub.publish(record),
      lost: (streamName, groupId) => this.hub.lost(streamName, groupId),
    })
    this.sweeper = new ExpirySweeper(this.store, this.logger, (count) => this.metrics.expirations.inc(count))
  }

  /** Stops expiring items; resolves once no sweep is in flight (then the store may close). */
  close() {
    return this.sweeper.stop()
  }

  /** Starts timing a store write; the returned function records it (a write that failed is not measured). */
  private timeWrite(operation: 'set' | 'delete' | 'send', caller: Caller) {
    return this.metrics.writeDuration.startTimer({ operation, transport: caller.kind === 'internal' ? 'internal' : caller.transport })
  }

  /** Runs the config's `authenticate` hook; without one every caller is anonymous. */
  async authenticate(request: Omit<AuthRequest, 'token'> & { token: string | undefined }, via: Via): Promise<Caller> {
    if (!this.hooks.authenticate) return { kind: 'client', authContext: undefined, ...via }
    try {
      return { kind: 'client', authContext: (await this.hooks.authenticate(request)) ?? undefined, ...via }
    } catch (error) {
      via.log.debug({ err: error }, 'authentication refused')
      throw new GatewayError('UNAUTHENTICATED', 'authentication failed')
    }
  }

  /** Motia's `canAccess` decides reads, writes and subscriptions alike; a throwing hook denies. */
  async authorize(caller: Caller, address: Address): Promise<void> {
    const stream = this.registry.get(address.streamName)
    if (caller.kind === 'internal' || !stream.canAccess) return
    const subscription = address.id === undefined ? { groupId: address.groupId } : { groupId: address.groupId, id: address.id }
    let allowed = false
    try {
      allowed = Boolean(await stream.canAccess(subscription, caller.authContext))
    } catch (error) {
      caller.log.warn({ err: error, stream: address.streamName }, 'canAccess threw; access denied')
    }
    if (!allowed) throw new GatewayError('PERMISSION_DENIED', 'Access denied')
  }

  /** The item with its version (the seq of the log entry that last changed it: REST's ETag). */
  async get(caller: Caller, address: Required<Address>): Promise<VersionedItem> {
    checkAddress(address, true, this.limits)
    await this.authorize(caller, address)
    const item = await this.store.get(address.streamName, address.groupId, address.id)
    if (!item) throw new GatewayError('NOT_FOUND', `item "${address.id}" not found in ${address.streamName}/${address.groupId}`)
    return item
  }

  async list(caller: Caller, address: Address): Promise<Item[]> {
    const group = { streamName: address.streamName, groupId: address.groupId }
    checkAddress(group, false, this.limits)
    await this.authorize(caller, group)
    return this.store.list(address.streamName, address.groupId)
  }

  async set(caller: Caller, address: Required<Address>, data: unknown, conditions: SetConditions = {}): Promise<SetResult> {
    checkAddress(address, true, this.limits)
    checkConditions(conditions, this.limits)
    const stream = this.registry.get(address.streamName)
    if (!isPlainObject(data)) throw new GatewayError('INVALID_ARGUMENT', 'item data must be a JSON object')
    checkPayload('item', data, this.limits)
    if (data.id !== undefined && data.id !== address.id) {
      throw new GatewayError('INVALID_ARGUMENT', `data.id "${String(data.id)}" differs from the item id "${address.id}"`)
    }
    await this.authorize(caller, address)
    // The JSON round trip detaches the stored item from the caller's object and measures it; the schema
    // then sees exactly what subscribers will receive, id included.
    const json = JSON.stringify({ ...data, id: address.id })
    if (Buffer.byteLength(json) > this.limits.maxItemBytes) {
      throw new GatewayError('PAYLOAD_TOO_LARGE', `item is larger than ${this.limits.maxItemBytes} bytes`)
    }
    const value = await stream.validate(JSON.parse(json))
    if (!isPlainObject(value)) throw new GatewayError('INVALID_ARGUMENT', "the stream's schema must produce an object")
    const item: Item = { ...value, id: address.id }
    const { ifVersion, ifAbsent, ttlSeconds, idempotencyKey } = conditions
    const written = this.timeWrite('set', caller)
    const { previous, record, replayed } = await this.store
      .set(address.streamName, address.groupId, item, {
        ifVersion,
        ifAbsent,
        // The request as it arrived, not the schema's output: a retry is the same request even if the schema changed.
        idempotency: idempotencyOf(idempotencyKey, this.idempotencyTtlSeconds, ['set', address.streamName, address.groupId, address.id, json, ifVersion, ifAbsent, ttlSeconds]),
        expiresAt: ttlSeconds === undefined ? undefined : Date.now() + ttlSeconds * 1000,
      })
      .catch(countPrecondition(this.metrics))
    written()
    if (!replayed) this.metrics.eventsWritten.inc()
    // A replay answers with what the first write stored (a set's record always carries its item).
    const stored = replayed && record.kind !== 'event' ? record.item : item
    return { item: stored, created: previous === null, record }
  }

  async delete(caller: Caller, address: Required<Address>, conditions: WriteConditions = {}): Promise<Item> {
    checkAddress(address, true, this.limits)
    checkConditions(conditions, this.limits)
    await this.authorize(caller, address)
    const { ifVersion, idempotencyKey } = conditions
    const written = this.timeWrite('delete', caller)
    const result = await this.store
      .delete(address.streamName, address.groupId, address.id, {
        ifVersion,
        idempotency: idempotencyOf(idempotencyKey, this.idempotencyTtlSeconds, ['delete', address.streamName, address.groupId, address.id, ifVersion]),
      })
      .catch(countPrecondition(this.metrics))
    written()
    if (!result?.previous) throw new GatewayError('NOT_FOUND', `item "${address.id}" not found in ${address.streamName}/${address.groupId}`)
    if (!result.replayed) this.metrics.eventsWritten.inc()
    return result.previous
  }

  async send(caller: Caller, address: Address, event: CustomEvent, conditions: Pick<WriteConditions, 'idempotencyKey'> = {}): Promise<LogRecord> {
    checkAddress(address, false, this.limits)
    checkConditions(conditions, this.limits)
    checkName('event type', event?.type, this.limits)
    if (event.data !== undefined) checkPayload('event data', event.data, this.limits)
    await this.authorize(caller, address)
    const json = JSON.stringify(event.data ?? null)
    if (Buffer.byteLength(json) > this.limits.maxItemBytes) {
      throw new GatewayError('PAYLOAD_TOO_LARGE', `event data is larger than ${this.limits.maxItemBytes} bytes`)
    }
    const idempotency = idempotencyOf(conditions.idempotencyKey, this.idempotencyTtlSeconds, ['send', address.streamName, address.groupId, address.id, event.type, json])
    const written = this.timeWrite('send', caller)
    const record = await this.store.send(address.streamName, address.groupId, address.id, { type: event.type, data: JSON.parse(json) }, { idempotency })
    written()
    this.metrics.eventsWritten.inc()
    return record
  }

  /**
   * A page of the stream's groups that hold items, in byte order of their ids. Authorised like a read: only
   * groups `canAccess` lets the caller read are listed (a page may then hold fewer than `limit`).
   */
  async listGroups(caller: Caller, streamName: string, page: { after?: string; limit?: number } = {}): Promise<GroupPage> {
    checkName('streamName', streamName, this.limits)
    this.registry.get(streamName)
    if (page.after !== undefined) checkName('after', page.after, this.limits)
    const limit = page.limit ?? DEFAULT_GROUP_PAGE
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_GROUP_PAGE) {
      throw new GatewayError('INVALID_ARGUMENT', `limit must be a whole number from 1 to ${MAX_GROUP_PAGE}`)
    }
    // One more than asked tells whether another page follows.
    const found = await this.store.groups(streamName, page.after, limit + 1)
    const listed = found.slice(0, limit)
    const readable: GroupInfo[] = []
    for (const group of listed) {
      try {
        await this.authorize(caller, { streamName, groupId: group.groupId })
        readable.push(group)
      } catch (error) {
        if (!(error instanceof GatewayError && error.code === 'PERMISSION_DENIED')) throw error
      }
    }
    return found.length > limit ? { groups: readable, next: listed.at(-1)!.groupId } : { groups: readable }
  }

  listStreams(): string[] {
    return this.registry.names()
  }

  /** The bytes of every open session's outbound queue, by transport; walks the sessions, so only when scraped. */
  private queuedBytes(): Map<Transport, number> {
    const bytes = new Map<Transport, number>()
    for (const session of this.sessions) bytes.set(session.transport, (bytes.get(session.transport) ?? 0) + session.queuedBytes)
    return bytes
  }

  openSession(options: SessionOptions): Session {
    return new Session(this, options)
  }
}
