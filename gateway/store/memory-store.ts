import { randomBytes } from 'node:crypto'
import type { CustomEvent, GroupInfo, Item, LogRecord, Snapshot } from '../model/records.ts'
import { History } from './history.ts'
import type { HistoryLimit, Store, StoreListener, WriteResult } from './store.ts'

class GroupLog {
  readonly items = new Map<string, Item>()
  seq = 0
  timestamp = 0
  constructor(readonly history: History) {}
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
    return this.existing(streamName, groupId)?.items.get(id) ?? null
  }

  async list(streamName: string, groupId: string) {
    return [...(this.existing(streamName, groupId)?.items.values() ?? [])]
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

  async set(streamName: string, groupId: string, item: Item): Promise<WriteResult> {
    const log = this.writable(streamName, groupId)
    const previous = log.items.get(item.id) ?? null
    log.items.set(item.id, item)
    const kind = previous ? 'update' : 'create'
    const record = this.append(log, { streamName, groupId, ...this.tick(log), kind, id: item.id, item })
    return { previous, record }
  }

  async delete(streamName: string, groupId: string, id: string): Promise<WriteResult | null> {
    const log = this.existing(streamName, groupId)
    const previous = log?.items.get(id)
    if (!log || !previous) return null
    log.items.delete(id)
    const record = this.append(log, { streamName, groupId, ...this.tick(log), kind: 'delete', id, item: previous })
    return { previous, record }
  }

  async send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent) {
    const log = this.writable(streamName, groupId)
    return this.append(log, { streamName, groupId, ...this.tick(log), kind: 'event', id, event })
  }

  async snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot> {
    const log = this.existing(streamName, groupId)
    // A group never written: a stamp just below now, so its first change (stamped at least now) follows
    // its first sync, and nothing is stored.
    if (!log) return { items: [], seq: 0, timestamp: Date.now() - 1, epoch: this.epoch }
    // A sync carries the stamp of the last entry it reflects, so snapshots never advance the clock and a
    // reconnect herd cannot push it ahead of wall time.
    const item = id === undefined ? undefined : log.items.get(id)
    const items = id === undefined ? [...log.items.values()] : item ? [item] : []
    return { items, seq: log.seq, timestamp: log.timestamp, epoch: this.epoch }
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
