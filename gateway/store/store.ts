import { GatewayError } from '../model/errors.ts'
import type { CustomEvent, GroupInfo, Item, LogRecord, Snapshot } from '../model/records.ts'

/** How much of each group's log a store keeps for resume: the newest records, within both bounds. */
export interface HistoryLimit {
  records: number
  /** Item and event payloads, as JSON. */
  bytes: number
}

export interface WriteResult {
  /** The item before the write; null when the item did not exist (the record is then a create). */
  previous: Item | null
  record: LogRecord
  /** The answer of an earlier write with the same idempotency key: nothing was written now. */
  replayed?: boolean
}

/** An item with its version: the seq of the log entry that last changed it. */
export interface VersionedItem {
  item: Item
  version: number
}

/**
 * A write's idempotency key. The store remembers the write's answer under (stream, group, key) for `ttlMs`;
 * a write with the same key and fingerprint then gets that answer back and writes nothing, one with another
 * fingerprint (another request) is refused (`keyReused`).
 */
export interface Idempotency {
  key: string
  /** Stands for the whole request (operation, address, body, conditions), computed by the core. */
  fingerprint: string
  ttlMs: number
}

/** What a write may require, checked by the store atomically with the write. */
export interface WriteOptions {
  /** Write only when the item exists and is at this version; else `preconditionFailed`. */
  ifVersion?: number
  idempotency?: Idempotency
}

export interface SetOptions extends WriteOptions {
  /** Write only when the item does not exist. */
  ifAbsent?: boolean
  /**
   * When the item expires (ms since the epoch): `expire` then deletes it through the log. Without it the item
   * never expires, whatever an earlier write said.
   */
  expiresAt?: number
}

/** A condition of the write did not hold: nothing was written. `version` is the item's (null: it does not exist). */
export const preconditionFailed = (version: number | null) =>
  new GatewayError('FAILED_PRECONDITION', version === null ? 'the item does not exist' : `the item is at version ${version}`)

export const keyReused = () =>
  new GatewayError('INVALID_ARGUMENT', 'this Idempotency-Key was used for another request', [], 'IDEMPOTENCY_KEY_REUSED')

/**
 * A write's conditions against the item's current version (null: absent), as every store checks them:
 * undefined when they hold.
 */
export function conditionsFail(options: SetOptions, version: number | null): GatewayError | undefined {
  if (options.ifAbsent && version !== null) return preconditionFailed(version)
  if (options.ifVersion !== undefined && version !== options.ifVersion) return preconditionFailed(version)
  return undefined
}

export interface StoreListener {
  /** A record of a watched group; records of one group arrive in log order. */
  record(record: LogRecord): void
  /**
   * Records of this group may have been missed (a gap the history cannot fill, a reconnect, a store that
   * came back empty under a new epoch): its subscribers must re-sync from a fresh snapshot.
   */
  lost(streamName: string, groupId: string): void
}

/**
 * Where stream state lives. Each group has one log: the store assigns its sequence numbers and its clock
 * (`max(now, last + 1)` in ms) atomically with the write, keeps a bounded history for resume, and delivers
 * every record, including those written by other gateway instances, to its listeners in log order.
 */
export interface Store {
  get(streamName: string, groupId: string, id: string): Promise<VersionedItem | null>
  list(streamName: string, groupId: string): Promise<Item[]>
  /**
   * Conditions and idempotency (`options`) are decided atomically with the write: a failed condition throws
   * `preconditionFailed`, a reused key `keyReused`, and in both cases nothing is written or delivered.
   */
  set(streamName: string, groupId: string, item: Item, options?: SetOptions): Promise<WriteResult>
  /** Null when nothing existed (and no condition was set): then nothing is logged or delivered. */
  delete(streamName: string, groupId: string, id: string, options?: WriteOptions): Promise<WriteResult | null>
  send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent, options?: Pick<WriteOptions, 'idempotency'>): Promise<LogRecord>
  /**
   * Deletes, through the log like any delete, the items whose `expiresAt` is not after `now`; returns how
   * many. Any number of instances may sweep one shared store at once: each expiry is deleted exactly once.
   * A store that keeps idempotency keys without a TTL of its own also forgets those past their time here.
   */
  expire(now: number): Promise<number>
  /**
   * Up to `limit` of the stream's groups that hold at least one item, after `after` in the byte order of
   * their UTF-8 ids, with their item counts.
   */
  groups(streamName: string, after: string | undefined, limit: number): Promise<GroupInfo[]>
  /** The group's items (or only item `id`, when given) with the log position they reflect. */
  snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot>
  /**
   * The records after `afterSeq`, or null when the history no longer holds all of them or `epoch` is not
   * the store's current one.
   */
  history(streamName: string, groupId: string, epoch: string, afterSeq: number): Promise<LogRecord[] | null>
  subscribe(listener: StoreListener): void
  /**
   * Local subscribers follow (or stopped following) this group. A store shared by several gateway
   * instances delivers only the records of watched groups; the memory store delivers everything.
   */
  watch(streamName: string, groupId: string): void
  unwatch(streamName: string, groupId: string): void
  /** False while the store cannot serve reads and writes (readiness reports it). */
  ready(): boolean
  close(): Promise<void>
}
