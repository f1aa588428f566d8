import { type Database, type RootDatabase } from 'lmdb'
import { pino, type Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import { groupKey } from '../model/group-key.ts'
import type { CustomEvent, GroupInfo, Item, LogRecord, Snapshot } from '../model/records.ts'
import {
  DATABASES,
  decodeHistoryEntry,
  decodeTimedKey,
  encodeHistoryEntry,
  type GroupMeta,
  groupPrefix,
  historyEntryWeight,
  historyKey,
  itemKey,
  listingKey,
  newGroupMeta,
  prefixEnd,
  type Remembered,
  rememberedKey,
  type StoredItem,
  storedItemJson,
  streamListing,
  timedEnd,
  timedKey,
  versionOf,
} from './durable-layout.ts'
import { type OpenedDataDir, openDataDir } from './durable-open.ts'
import { conditionsFail, type HistoryLimit, type Idempotency, keyReused, type SetOptions, type Store, type StoreListener, type WriteOptions, type WriteResult } from './store.ts'

export interface DurableStoreOptions {
  /** Where the data lives (created when missing). */
  dataDir: string
  /** Acknowledge a write only once the disk has it (power-loss durability), not only once it is committed. */
  fsync?: boolean
  historyLimit: (streamName: string) => HistoryLimit
  logger?: Logger
}

/**
 * What a group's writes changed that is not committed yet. Reads and the next writes see it; it is dropped
 * once every write of the group is committed, so memory holds only writes in flight.
 */
class PendingGroup {
  readonly items = new Map<string, StoredItem | null>()
  readonly entries = new Map<number, { record: LogRecord; weight: number }>()
  /** Idempotency keys remembered by writes in flight. */
  readonly remembered = new Map<string, Remembered>()
  inFlight = 0
  /** Settles when the group's latest write is committed (or failed). */
  settled: Promise<unknown> = Promise.resolve()
  constructor(
    readonly prefix: Buffer,
    readonly meta: GroupMeta,
  ) {}
}

/** A write waiting for its commit; writes finish in the order they were made. */
interface InFlight {
  done: boolean
  finish(): void
  fail(error: GatewayError): void
}

const EMPTY = Buffer.alloc(0)

const unavailable = (why: string) => new GatewayError('UNAVAILABLE', `the store is unavailable: ${why}`)

/**
 * The embedded default: every group's items, log position, clock and bounded history, and the epoch, in one
 * LMDB environment in the data directory (layout: durable-layout.ts), owned by one process (data-dir-lock.ts).
 *
 * Writes decide create/update, take the next seq and tick the clock synchronously against the committed state
 * plus the writes still in flight, then queue their puts: LMDB commits everything queued in one event-loop
 * turn as one transaction on its own thread (group commit), so a write's item, its log entry, its trimming
 * and the group's position land together or not at all. A write resolves, and its record reaches the
 * listeners, only after that commit: a committed transaction is in the file (the OS's page cache) at once, so
 * a `kill -9` right after loses nothing acknowledged. Without `fsync` the OS writes it to the disk when it
 * likes, and a machine crash may lose the last seconds (the next start knows: data-dir-run.ts); with `fsync` a
 * write also waits for LMDB's flush. Reads see what is in flight too, and answer once it is committed, so
 * nobody is shown state a crash could take back.
 *
 * A commit that fails (a full disk) leaves the store failed: every call fails with UNAVAILABLE and
 * readiness is false until a restart, which finds the data as of the last commit that succeeded.
 */
export class DurableStore implements Store {
  static async open(options: DurableStoreOptions): Promise<DurableStore> {
    return new DurableStore(await openDataDir(options.dataDir, options.fsync ?? false), options)
  }

  private readonly groupsDb: Database<GroupMeta, Buffer>
  private readonly itemsDb: Database<string, Buffer>
  private readonly historyDb: Database<Buffer, Buffer>
  private readonly listingDb: Database<Buffer, Buffer>
  private readonly expiryDb: Database<Buffer, Buffer>
  private readonly rememberedDb: Database<Remembered, Buffer>
  private readonly rememberedExpiryDb: Database<Buffer, Buffer>
  private readonly pending = new Map<string, PendingGroup>()
  /** Writes waiting for their commit, in the order they were made, from `inFlightHead` on. */
  private inFlight: InFlight[] = []
  private inFlightHead = 0
  private readonly listeners: StoreListener[] = []
  private readonly fsync: boolean
  private readonly historyLimit: (streamName: string) => HistoryLimit
  private readonly logger: Logger
  private readonly env: RootDatabase
  readonly epoch: string
  private failure: GatewayError | undefined
  private closed = false

  private constructor(
    private readonly dataDir: OpenedDataDir,
    options: DurableStoreOptions,
  ) {
    const { env, epoch } = dataDir
    this.env = env
    this.epoch = epoch
    this.groupsDb = env.openDB({ name: 'groups', encoding: 'json', keyEncoding: 'binary' })
    this.itemsDb = env.openDB({ name: 'items', encoding: 'string', keyEncoding: 'binary' })
    this.historyDb = env.openDB({ name: 'history', encoding: 'binary', keyEncoding: 'binary' })
    this.listingDb = env.openDB({ name: 'listing', encoding: 'binary', keyEncoding: 'binary' })
    this.expiryDb = env.openDB({ name: DATABASES.expiry, encoding: 'binary', keyEncoding: 'binary' })
    this.rememberedDb = env.openDB({ name: DATABASES.idempotency, encoding: 'json', keyEncoding: 'binary' })
    this.rememberedExpiryDb = env.openDB({ name: DATABASES.idempotencyExpiry, encoding: 'binary', keyEncoding: 'binary' })
    this.fsync = options.fsync ?? false
    this.historyLimit = options.historyLimit
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ store: 'durable' })
    if (dataDir.replaced) this.logger.warn({ dataDir: options.dataDir, epoch }, `durable store: a new epoch, so resume tokens from before reset: ${dataDir.replaced}`)
    this.logger.info({ dataDir: options.dataDir, epoch, fsync: this.fsync }, 'durable store opened')
  }

  // --- state: committed plus in flight ----------------------------------------------------------------------

  private usable() {
    if (this.failure) throw this.failure
    if (this.closed) throw unavailable('the gateway is shutting down')
  }

  /** The group's meta as of every write made so far; undefined for a group never written. */
  private meta(key: string, prefix: Buffer): GroupMeta | undefined {
    return this.pending.get(key)?.meta ?? this.groupsDb.get(prefix)
  }

  /** The group's pending state, for a write: created (from the committed meta, or new) when needed. */
  private writable(key: string, prefix: Buffer): PendingGroup {
    let group = this.pending.get(key)
    if (!group) {
      group = new PendingGroup(prefix, { ...(this.groupsDb.get(prefix) ?? newGroupMeta()) })
      this.pending.set(key, group)
    }
    return group
  }

  private item(group: PendingGroup | undefined, prefix: Buffer, id: string): StoredItem | null {
    const pending = group?.items.get(id)
    if (pending !== undefined) return pending
    const json = this.itemsDb.get(itemKey(prefix, id))
    return json === undefined ? null : (JSON.parse(json) as StoredItem)
  }

  /** The group's stored items in creation order. */
  private stored(group: PendingGroup | undefined, prefix: Buffer): StoredItem[] {
    const stored = new Map<string, StoredItem>()
    for (const { value } of this.itemsDb.getRange({ start: prefix, end: prefixEnd(prefix) })) {
      const entry = JSON.parse(value) as StoredItem
      stored.set(entry.item.id, entry)
    }
    for (const [id, entry] of group?.items ?? []) {
      if (entry) stored.set(id, entry)
      else stored.delete(id)
    }
    return [...stored.values()].sort((a, b) => a.created - b.created)
  }

  /** Answers a read once what it saw is committed. */
  private async afterCommit<T>(group: PendingGroup | undefined, value: T): Promise<T> {
    if (group) await group.settled
    this.usable()
    return value
  }

  // --- writes -----------------------------------------------------------------------------------------------

  private tick(group: PendingGroup) {
    group.meta.seq += 1
    group.meta.ts = Math.max(Date.now(), group.meta.ts + 1)
    return { seq: group.meta.seq, timestamp: group.meta.ts, epoch: this.epoch }
  }

  /**
   * Appends the record to the history, trims it to the stream's limit and queues the group's meta; `payloadJson`
   * is the record's item or event as JSON, and its length the record's weight (as recordWeight in history.ts).
   */
  private append(streamName: string, group: PendingGroup, record: LogRecord, payloadJson: string) {
    const limit = this.historyLimit(streamName)
    const weight = payloadJson.length
    const { meta } = group
    group.entries.set(record.seq, { record, weight })
    this.historyDb.put(historyKey(group.prefix, record.seq), encodeHistoryEntry(record, payloadJson))
    meta.bytes += weight
    while (meta.first <= meta.seq && (meta.seq - meta.first + 1 > limit.records || meta.bytes > limit.bytes)) {
      meta.bytes -= this.entryWeight(group, meta.first)
      group.entries.delete(meta.first)
      this.historyDb.remove(historyKey(group.prefix, meta.first))
      meta.first += 1
    }
    return this.groupsDb.put(group.prefix, { ...meta })
  }

  private entryWeight(group: PendingGroup, seq: number): number {
    const pending = group.entries.get(seq)
    if (pending) return pending.weight
    const value = this.historyDb.getBinaryFast(historyKey(group.prefix, seq))
    return value ? historyEntryWeight(value) : 0
  }

  /**
   * Resolves once the write's transaction is committed (and flushed, with fsync), after every earlier write;
   * then the record goes to the listeners.
   */
  private commit<T>(key: string, group: PendingGroup, record: LogRecord, committed: Promise<unknown>, result: T): Promise<T> {
    group.inFlight += 1
    const finished = new Promise<T>((resolve, reject) => {
      const entry: InFlight = {
        done: false,
        finish: () => {
          group.entries.delete(record.seq)
          if (--group.inFlight === 0 && this.pending.get(key) === group) this.pending.delete(key)
          for (const listener of this.listeners) listener.record(record)
          resolve(result)
        },
        fail: reject,
      }
      this.inFlight.push(entry)
      const durable = this.fsync ? committed.then(() => this.env.flushed) : committed
      durable.then(
        () => {
          entry.done = true
          this.finishCommitted()
        },
        (error) => this.fail(error),
      )
    })
    group.settled = finished.catch(() => {})
    return finished
  }

  /** Finishes the committed writes at the head of the queue (a head index: a batch is thousands of writes). */
  private finishCommitted() {
    while (this.inFlight[this.inFlightHead]?.done) this.inFlight[this.inFlightHead++]!.finish()
    if (this.inFlightHead === this.inFlight.length || (this.inFlightHead > 1024 && this.inFlightHead * 2 > this.inFlight.length)) {
      this.inFlight = this.inFlight.slice(this.inFlightHead)
      this.inFlightHead = 0
    }
  }

  private fail(error: unknown) {
    if (this.failure) return
    this.failure = unavailable(`the data directory cannot be written: ${(error as Error).message}`)
    this.logger.error({ err: error }, 'durable store: a commit failed; the store stays unavailable until a restart')
    for (const entry of this.inFlight.slice(this.inFlightHead)) entry.fail(this.failure)
    this.inFlight = []
    this.inFlightHead = 0
    this.pending.clear()
  }

  async get(streamName: string, groupId: string, id: string) {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const group = this.pending.get(key)
    const stored = this.item(group, prefix, id)
    return this.afterCommit(group, stored && { item: stored.item, version: versionOf(stored) })
  }

  /**
   * A write's idempotency key and where it is remembered, worked out before the write changes anything (a key
   * too long fails here).
   */
  private keyOf(prefix: Buffer, idempotency: Idempotency | undefined) {
    return idempotency && { ...idempotency, at: rememberedKey(prefix, idempotency.key) }
  }

  /** The answer remembered under the key (in flight or committed, and not past its time); throws when it was for another request. */
  private replay(group: PendingGroup | undefined, key: ReturnType<DurableStore['keyOf']>): unknown {
    if (!key) return undefined
    const entry = group?.remembered.get(key.key) ?? this.rememberedDb.get(key.at)
    if (!entry || entry.expiresAt <= Date.now()) return undefined
    if (entry.fingerprint !== key.fingerprint) throw keyReused()
    return entry.answer
  }

  /** Queues the key's answer with the write it answers, so both commit together. */
  private remember(group: PendingGroup, key: ReturnType<DurableStore['keyOf']>, answer: unknown) {
    if (!key) return
    const entry: Remembered = { fingerprint: key.fingerprint, expiresAt: Date.now() + key.ttlMs, answer }
    group.remembered.set(key.key, entry)
    this.rememberedDb.put(key.at, entry)
    this.rememberedExpiryDb.put(timedKey(entry.expiresAt, key.at), EMPTY)
  }

  /** Nothing was written (a replay, a failed condition): answers once what it was decided on is committed. */
  private async refuse<T>(group: PendingGroup | undefined, error: GatewayError): Promise<T> {
    await this.afterCommit(group, undefined)
    throw error
  }

  async list(streamName: string, groupId: string): Promise<Item[]> {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const group = this.pending.get(key)
    return this.afterCommit(group, this.stored(group, prefix).map((entry) => entry.item))
  }

  /** The group's key and the prefix of its keys in the environment (a name too long fails here, before any change). */
  private address(streamName: string, groupId: string) {
    const key = groupKey(streamName, groupId)
    return { key, prefix: this.pending.get(key)?.prefix ?? groupPrefix(streamName, groupId) }
  }

  async set(streamName: string, groupId: string, item: Item, options: SetOptions = {}): Promise<WriteResult> {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const itemAt = itemKey(prefix, item.id)
    const idempotency = this.keyOf(prefix, options.idempotency)
    const existing = this.pending.get(key)
    const replayed = this.replay(existing, idempotency)
    if (replayed) return this.afterCommit(existing, { ...(replayed as WriteResult), replayed: true })
    const previous = this.item(existing, prefix, item.id)
    const failed = conditionsFail(options, previous ? versionOf(previous) : null)
    if (failed) return this.refuse(existing, failed)
    const group = this.writable(key, prefix)
    const position = this.tick(group)
    const created = previous?.created ?? position.seq
    const itemJson = JSON.stringify(item)
    group.items.set(item.id, { created, version: position.seq, expires: options.expiresAt, item })
    this.itemsDb.put(itemAt, storedItemJson(created, position.seq, options.expiresAt, itemJson))
    if (previous?.expires !== undefined) this.expiryDb.remove(timedKey(previous.expires, itemAt))
    if (options.expiresAt !== undefined) this.expiryDb.put(timedKey(options.expiresAt, itemAt), EMPTY)
    if (!previous && ++group.meta.items === 1) this.listingDb.put(listingKey(streamListing(streamName), groupId), EMPTY)
    const record: LogRecord = { streamName, groupId, ...position, kind: previous ? 'update' : 'create', id: item.id, item }
    const result: WriteResult = { previous: previous?.item ?? null, record }
    this.remember(group, idempotency, result)
    const committed = this.append(streamName, group, record, itemJson)
    return this.commit(key, group, record, committed, result)
  }

  async delete(streamName: string, groupId: string, id: string, options: WriteOptions = {}): Promise<WriteResult | null> {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const itemAt = itemKey(prefix, id)
    const idempotency = this.keyOf(prefix, options.idempotency)
    const existing = this.pending.get(key)
    const replayed = this.replay(existing, idempotency)
    if (replayed) return this.afterCommit(existing, { ...(replayed as WriteResult), replayed: true })
    const previous = this.item(existing, prefix, id)
    const failed = conditionsFail(options, previous ? versionOf(previous) : null)
    if (failed) return this.refuse(existing, failed)
    if (!previous) return this.afterCommit(existing, null)
    const group = this.writable(key, prefix)
    group.items.set(id, null)
    this.itemsDb.remove(itemAt)
    if (previous.expires !== undefined) this.expiryDb.remove(timedKey(previous.expires, itemAt))
    if (--group.meta.items === 0) this.listingDb.remove(listingKey(streamListing(streamName), groupId))
    const record: LogRecord = { streamName, groupId, ...this.tick(group), kind: 'delete', id, item: previous.item }
    const result: WriteResult = { previous: previous.item, record }
    this.remember(group, idempotency, result)
    const committed = this.append(streamName, group, record, JSON.stringify(previous.item))
    return this.commit(key, group, record, committed, result)
  }

  async send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent, options: Pick<WriteOptions, 'idempotency'> = {}): Promise<LogRecord> {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const idempotency = this.keyOf(prefix, options.idempotency)
    const existing = this.pending.get(key)
    const replayed = this.replay(existing, idempotency)
    if (replayed) return this.afterCommit(existing, replayed as LogRecord)
    const group = this.writable(key, prefix)
    const record: LogRecord = { streamName, groupId, ...this.tick(group), kind: 'event', id, event }
    this.remember(group, idempotency, record)
    const committed = this.append(streamName, group, record, JSON.stringify(event))
    return this.commit(key, group, record, committed, record)
  }

  /**
   * Deletes the items due by `now` (the expiry index, as committed: an item set since with another time is
   * skipped, its own entry is due later) and forgets the idempotency keys past their time.
   */
  async expire(now: number): Promise<number> {
    this.usable()
    for (const at of this.rememberedExpiryDb.getKeys({ end: timedEnd(now) })) {
      const { streamName, groupId, prefix, tail } = decodeTimedKey(at)
      const key = Buffer.from(at.subarray(8))
      // A key remembered again by a write in flight keeps its new answer.
      const again = this.pending.get(groupKey(streamName, groupId))?.remembered.has(tail)
      if (!again && (this.rememberedDb.get(rememberedKey(prefix, tail))?.expiresAt ?? 0) <= now) this.rememberedDb.remove(key)
      this.rememberedExpiryDb.remove(at)
    }
    const due = [...this.expiryDb.getKeys({ end: timedEnd(now) })].map(decodeTimedKey)
    const deleted = await Promise.all(
      due.map(({ ms, streamName, groupId, tail: id }) => {
        const { key, prefix } = this.address(streamName, groupId)
        if (this.item(this.pending.get(key), prefix, id)?.expires !== ms) return null
        return this.delete(streamName, groupId, id)
      }),
    )
    return deleted.filter(Boolean).length
  }

  // --- reads of the log -------------------------------------------------------------------------------------

  async groups(streamName: string, after: string | undefined, limit: number): Promise<GroupInfo[]> {
    this.usable()
    const listing = streamListing(streamName)
    // The listing as committed, once what is in flight is: a listing is no read of one group's hot path.
    await Promise.all([...this.pending.values()].map((group) => group.settled))
    this.usable()
    // Ids never hold NUL, so the first key past `after` is `after` followed by one.
    const start = after === undefined ? listing : Buffer.concat([listingKey(listing, after), Buffer.from([0])])
    const groups: GroupInfo[] = []
    for (const key of this.listingDb.getKeys({ start, end: prefixEnd(listing), limit })) {
      const groupId = key.subarray(listing.length).toString()
      groups.push({ groupId, items: this.groupsDb.get(groupPrefix(streamName, groupId))?.items ?? 0 })
    }
    return groups
  }

  async snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot> {
    this.usable()
    const { key, prefix } = this.address(streamName, groupId)
    const group = this.pending.get(key)
    const meta = this.meta(key, prefix)
    // A group never written: a stamp just below now, so its first change (stamped at least now) follows its
    // first sync, and nothing is stored.
    if (!meta) return { items: [], versions: [], seq: 0, timestamp: Date.now() - 1, epoch: this.epoch }
    const one = id === undefined ? undefined : this.item(group, prefix, id)
    const entries = id === undefined ? this.stored(group, prefix) : one ? [one] : []
    return this.afterCommit(group, {
      items: entries.map((entry) => entry.item),
      versions: entries.map(versionOf),
      seq: meta.seq,
      timestamp: meta.ts,
      epoch: this.epoch,
    })
  }

  async history(streamName: string, groupId: string, epoch: string, afterSeq: number): Promise<LogRecord[] | null> {
    this.usable()
    if (epoch !== this.epoch) return null
    const { key, prefix } = this.address(streamName, groupId)
    const group = this.pending.get(key)
    const meta = this.meta(key, prefix)
    if (!meta) return afterSeq === 0 ? [] : null
    if (afterSeq > meta.seq || afterSeq + 1 < meta.first) return null
    const records: LogRecord[] = []
    let next = afterSeq + 1
    for (const { value } of this.historyDb.getRange({ start: historyKey(prefix, next), end: historyKey(prefix, meta.seq + 1) })) {
      const record = decodeHistoryEntry(value, streamName, groupId, this.epoch)
      if (record.seq !== next) break
      records.push(record)
      next += 1
    }
    for (; next <= meta.seq; next++) {
      const entry = group?.entries.get(next)
      if (!entry) break
      records.push(entry.record)
    }
    // A hole (an entry that a failed commit never wrote) is a gap the history cannot fill.
    return this.afterCommit(group, next > meta.seq ? records : null)
  }

  subscribe(listener: StoreListener) {
    this.listeners.push(listener)
  }

  watch() {}
  unwatch() {}

  ready() {
    return !this.closed && !this.failure
  }

  /** Waits for the writes in flight, then closes the environment and releases the directory. */
  async close() {
    if (this.closed) return
    this.closed = true
    await Promise.all([...this.pending.values()].map((group) => group.settled))
    await this.dataDir.close()
  }
}
