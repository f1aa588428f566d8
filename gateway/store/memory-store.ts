import { randomBytes } from 'node:crypto'
import type { CustomEvent, GroupInfo, Item, LogRecord, Snapshot } from '../model/records.ts'
import { History } from './history.ts'
import { conditionsFail, type Idempotency, keyReused, type HistoryLimit, type SetOptions, type Store, type StoreListener, type WriteOptions, type WriteResult } from './store.ts'

interface Entry {
  item: Item
  version: number
  expiresAt?: number
}

class GroupLog {
  readonly items = new Map<string, Entry>()
  seq = 0
  timestamp = 0
  constructor(readonly history: History) {}
}

/** A remembered answer: a write's result (set, delete) or its record (send). */
interface Remembered {
  fingerprint: string
  expiresAt: number
  answer: WriteResult | LogRecord
}

/**
 * Every group lives in this process. Writes are synchronous under the hood, so the read-modify-write of
 * create/update and the clock tick are atomic by construction. The epoch is new on every start: resume
 * tokens from before a restart lead to a reset sync.
 */
export class MemoryStore implements Store {
  readonly epoch = randomBytes(6).toString('base64url')
  /** Stream name -> group id -> group. */
  private readonly streams = new Map<string, Map<string, GroupLog>>()
  private readonly listeners: StoreListener[] = []
  /** Idempotency keys by group and key, in the order they were made (which is their expiry order too). */
  private readonly remembered = new Map<string, Remembered>()
  /** The items that expire, by group and id. */
  private readonly expiring = new Map<string, { streamName: string; groupId: string; id: string; expiresAt: number }>()

  /** `historyLimit` tells, per stream, how much of each group's log is kept for resume. */
  constructor(private readonly historyLimit: (streamName: string) => HistoryLimit) {}

  /** Only writes create a group: reads of a group never written leave nothing behind. */
  private writable(streamName: string, groupId: string): GroupLog {
    let groups = this.streams.get(streamName)
    if (!groups) this.streams.set(streamName, (groups = new Map()))
    let log = groups.get(groupId)
    if (!log) groups.set(groupId, (log = new GroupLog(new History(this.historyLimit(streamName)))))
    return log
  }

  private existing(streamName: string, groupId: string): GroupLog | undefined {
    return this.streams.get(streamName)?.get(groupId)
  }

  private append<R extends LogRecord>(log: GroupLog, record: R): R {
    log.history.push(record)
    for (const listener of this.listeners) listener.record(record)
    return record
  }

  private tick(log: GroupLog) {
    log.seq += 1
    log.timestamp = Math.max(Date.now(), log.timestamp + 1)
    return { seq: log.seq, timestamp: log.timestamp, epoch: this.epoch }
  }

  async get(streamName: string, groupId: string, id: string) {
    const entry = this.existing(streamName, groupId)?.items.get(id)
    return entry ? { item: entry.item, version: entry.version } : null
  }

  async list(streamName: string, groupId: string) {
    return this.itemsOf(this.existing(streamName, groupId))
  }

  private itemsOf(log: GroupLog | undefined) {
    return [...(log?.items.values() ?? [])].map((entry) => entry.item)
  }

  private static address = (streamName: string, groupId: string, tail: string) => JSON.stringify([streamName, groupId, tail])

  /** Drops the keys past their time: insertion order is expiry order (one ttl for every key), so they are in front. */
  private forget(now: number) {
    for (const [key, entry] of this.remembered) {
      if (entry.expiresAt > now) break
      this.remembered.delete(key)
    }
  }

  /** The answer remembered under the key, if the key is still remembered; throws when it was for another request. */
  private replay(streamName: string, groupId: string, idempotency: Idempotency | undefined) {
    if (!idempotency) return undefined
    const now = Date.now()
    this.forget(now)
    const entry = this.remembered.get(MemoryStore.address(streamName, groupId, idempotency.key))
    if (!entry || entry.expiresAt <= now) return undefined
    if (entry.fingerprint !== idempotency.fingerprint) throw keyReused()
    return entry.answer
  }

  private remember<T extends WriteResult | LogRecord>(streamName: string, groupId: string, idempotency: Idempotency | undefined, answer: T): T {
    if (idempotency) {
      const at = MemoryStore.address(streamName, groupId, idempotency.key)
      // Deleted first, so that the key moves to the end: the map stays in expiry order.
      this.remembered.delete(at)
      this.remembered.set(at, { fingerprint: idempotency.fingerprint, expiresAt: Date.now() + idempotency.ttlMs, answer })
    }
    return answer
  }

  async groups(streamName: string, after: string | undefined, limit: number): Promise<GroupInfo[]> {
    const from = after === undefined ? undefined : Buffer.from(after)
    const ids: Buffer[] = []
    for (const [groupId, log] of this.streams.get(streamName) ?? []) {
      const id = Buffer.from(groupId)
      if (log.items.size > 0 && (!from || Buffer.compare(id, from) > 0)) ids.push(id)
    }
    return ids
      .sort(Buffer.compare)
      .slice(0, limit)
      .map((id) => {
        const groupId = id.toString()
        return { groupId, items: this.existing(streamName, groupId)!.items.size }
      })
  }

  async set(streamName: string, groupId: string, item: Item, options: SetOptions = {}): Promise<WriteResult> {
    const replayed = this.replay(streamName, groupId, options.idempotency)
    if (replayed) return { ...(replayed as WriteResult), replayed: true }
    const current = this.existing(streamName, groupId)?.items.get(item.id)
    const failed = conditionsFail(options, current?.version ?? null)
    if (failed) throw failed
    const log = this.writable(streamName, groupId)
    const position = this.tick(log)
    log.items.set(item.id, { item, version: position.seq, expiresAt: options.expiresAt })
    const at = MemoryStore.address(streamName, groupId, item.id)
    if (options.expiresAt === undefined) this.expiring.delete(at)
    else this.expiring.set(at, { streamName, groupId, id: item.id, expiresAt: options.expiresAt })
    const kind = current ? 'update' : 'create'
    const record = this.append(log, { streamName, groupId, ...position, kind, id: item.id, item })
    return this.remember(streamName, groupId, options.idempotency, { previous: current?.item ?? null, record })
  }

  async delete(streamName: string, groupId: string, id: string, options: WriteOptions = {}): Promise<WriteResult | null> {
    const replayed = this.replay(streamName, groupId, options.idempotency)
    if (replayed) return { ...(replayed as WriteResult), replayed: true }
    const log = this.existing(streamName, groupId)
    const current = log?.items.get(id)
    const failed = conditionsFail(options, current?.version ?? null)
    if (failed) throw failed
    if (!log || !current) return null
    log.items.delete(id)
    this.expiring.delete(MemoryStore.address(streamName, groupId, id))
    const record = this.append(log, { streamName, groupId, ...this.tick(log), kind: 'delete', id, item: current.item })
    return this.remember(streamName, groupId, options.idempotency, { previous: current.item, record })
  }

  async send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent, options: Pick<WriteOptions, 'idempotency'> = {}) {
    const replayed = this.replay(streamName, groupId, options.idempotency)
    if (replayed) return replayed as LogRecord
    const log = this.writable(streamName, groupId)
    const record = this.append(log, { streamName, groupId, ...this.tick(log), kind: 'event', id, event })
    return this.remember(streamName, groupId, options.idempotency, record)
  }

  async expire(now: number) {
    this.forget(now)
    let expired = 0
    for (const { streamName, groupId, id, expiresAt } of [...this.expiring.values()]) {
      if (expiresAt <= now && (await this.delete(streamName, groupId, id))) expired += 1
    }
    return expired
  }

  async snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot> {
    const log = this.existing(streamName, groupId)
    // A group never written: a stamp just below now, so its first change (stamped at least now) follows
    // its first sync, and nothing is stored.
    if (!log) return { items: [], versions: [], seq: 0, timestamp: Date.now() - 1, epoch: this.epoch }
    // A sync carries the stamp of the last entry it reflects, so snapshots never advance the clock and a
    // reconnect herd cannot push it ahead of wall time.
    const one = id === undefined ? undefined : log.items.get(id)
    const entries = id === undefined ? [...log.items.values()] : one ? [one] : []
    return {
      items: entries.map((entry) => entry.item),
      versions: entries.map((entry) => entry.version),
      seq: log.seq,
      timestamp: log.timestamp,
      epoch: this.epoch,
    }
  }

  async history(streamName: string, groupId: string, epoch: string, afterSeq: number) {
    if (epoch !== this.epoch) return null
    const log = this.existing(streamName, groupId)
    if (!log) return afterSeq === 0 ? [] : null
    if (afterSeq > log.seq) return null
    if (afterSeq === log.seq) return []
    return log.history.after(afterSeq)
  }

  subscribe(listener: StoreListener) {
    this.listeners.push(listener)
  }

  watch() {}
  unwatch() {}
  ready() {
    return true
  }

  async close() {}
}
