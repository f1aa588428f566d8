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
  get(streamName: string, groupId: string, id: string): Promise<Item | null>
  list(streamName: string, groupId: string): Promise<Item[]>
  set(streamName: string, groupId: string, item: Item): Promise<WriteResult>
  /** Null when nothing existed: then nothing is logged or delivered. */
  delete(streamName: string, groupId: string, id: string): Promise<WriteResult | null>
  send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent): Promise<LogRecord>
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
