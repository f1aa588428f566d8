import { GatewayError } from '../model/errors.ts'
import type { Item, LogRecord } from '../model/records.ts'

/**
 * How the durable store lays stream state out in its LMDB environment (`<data dir>/data.mdb`, one file).
 * Keys are bytes built here, so any well-formed name (NUL and `:` included, any length up to LMDB's limit)
 * has its own key:
 * a group is `<u16 byte length><stream name><u16 byte length><group id>` (UTF-8), and the keys of its items
 * and history entries start with that prefix, so one range read covers a group.
 *
 * | Database  | Key                          | Value                                                            |
 * |-----------|------------------------------|------------------------------------------------------------------|
 * | `store`   | `format`, `epoch`            | the layout version (FORMAT) and the epoch in every resume token  |
 * | `groups`  | group                        | GroupMeta (JSON): the log position, clock and history bounds     |
 * | `items`   | group + item id (UTF-8)      | StoredItem (JSON): the item and the seq that created it          |
 * | `history` | group + seq (u64 big-endian) | `<u32 weight><record JSON>`: the entry without stream, group and |
 * |           |                              | epoch; the weight (its payload's JSON length, as recordWeight in |
 * |           |                              | history.ts) lets trimming skip the JSON                          |
 * | `listing` | `<u16 length><stream><group>` | empty: the stream's groups that hold items, in byte order of    |
 * |           |                              | their ids (a group id is the key's tail: no length before it)    |
 * | `expiry`  | u64 ms + group + item id     | empty: the items that expire, in order of their time             |
 * | `idempotency` | group + key (UTF-8)      | Remembered (JSON): a write's fingerprint, answer and end of life  |
 * | `idempotencyExpiry` | u64 ms + group + key | empty: the remembered keys in order of their end of life       |
 *
 * The epoch is made when the environment is created and stays as long as the data does, unless the last run's
 * record says the data may lack acknowledged writes or is a copy (data-dir-run.ts). Groups are
 * never removed (as in the other stores); a deleted item's key is removed in the same transaction as its
 * delete record is appended, and trimmed history entries are removed in the transaction that trims them, so
 * the file holds the items plus each group's history (LMDB reuses the freed pages; the file never shrinks).
 *
 * Conditional writes (design.md): StoredItem has a `version` (the seq of the last change) and an expiry time
 * beside `created`; items written before versions existed have none and count as version 0. Idempotency keys
 * and the expiry indexes have databases of their own, so none of this needed a new FORMAT.
 */
export const FORMAT = 1

export const DATABASES = {
  store: 'store',
  groups: 'groups',
  items: 'items',
  history: 'history',
  listing: 'listing',
  expiry: 'expiry',
  idempotency: 'idempotency',
  idempotencyExpiry: 'idempotencyExpiry',
} as const

/** LMDB's largest key with its default 4 KiB pages. */
const MAX_KEY_BYTES = 1978

export interface GroupMeta {
  /** The seq of the group's last log entry. */
  seq: number
  /** Its clock: the timestamp of that entry (ms). */
  ts: number
  /** The seq of the oldest entry the history holds (`seq + 1` when it holds none). */
  first: number
  /** What the history's entries weigh together (their payloads' JSON length). */
  bytes: number
  /** How many items the group holds. */
  items: number
}

export const newGroupMeta = (): GroupMeta => ({ seq: 0, ts: 0, first: 1, bytes: 0, items: 0 })

export interface StoredItem {
  /** The seq of the entry that created the item: a group lists in creation order. */
  created: number
  /** The seq of the entry that last changed it (absent: written before versions existed, version 0). */
  version?: number
  /** When it expires (ms since the epoch); absent when it does not. */
  expires?: number
  item: Item
}

export const versionOf = (stored: StoredItem) => stored.version ?? 0

/** The stored item as JSON, reusing the item's JSON so it is encoded once per write. */
export const storedItemJson = (created: number, version: number, expires: number | undefined, itemJson: string) =>
  `{"created":${created},"version":${version}${expires === undefined ? '' : `,"expires":${expires}`},"item":${itemJson}}`

/** An idempotency key's remembered write: what it answered (a WriteResult, or a send's record) and until when. */
export interface Remembered {
  fingerprint: string
  expiresAt: number
  answer: unknown
}

/** An index entry ordered by time: `<u64 ms><tail>`, so a range read up to now finds everything due. */
export function timedKey(ms: number, tail: Buffer): Buffer {
  const key = Buffer.allocUnsafe(8 + tail.length)
  key.writeUInt32BE(Math.floor(ms / 2 ** 32), 0)
  key.writeUInt32BE(ms >>> 0, 4)
  tail.copy(key, 8)
  return key
}

/** Past every timed key of `ms` and before. */
export const timedEnd = (ms: number) => timedKey(ms + 1, EMPTY_TAIL)
const EMPTY_TAIL = Buffer.alloc(0)

/** A timed key's time, group (stream name, group id, prefix) and the tail after the group (an item id or a key). */
export function decodeTimedKey(key: Buffer) {
  const ms = key.readUInt32BE(0) * 2 ** 32 + key.readUInt32BE(4)
  const s = key.readUInt16BE(8)
  const streamName = key.toString('utf8', 10, 10 + s)
  const g = key.readUInt16BE(10 + s)
  const groupId = key.toString('utf8', 12 + s, 12 + s + g)
  return { ms, streamName, groupId, prefix: key.subarray(8, 12 + s + g), tail: key.toString('utf8', 12 + s + g) }
}

/** Where an idempotency key of a group is remembered: the group's prefix + the key (UTF-8). */
export function rememberedKey(prefix: Buffer, key: string): Buffer {
  checkName(key)
  if (prefix.length + Buffer.byteLength(key) + 8 > MAX_KEY_BYTES) throw tooLong()
  return Buffer.concat([prefix, Buffer.from(key)])
}

/** A lone surrogate has no UTF-8 form: two such names would share a key. */
const LONE_SURROGATE = /\p{Cs}/u

function checkName(name: string) {
  if (LONE_SURROGATE.test(name)) throw new GatewayError('INVALID_ARGUMENT', 'names must be well-formed Unicode (no lone surrogates)')
}

export function groupPrefix(streamName: string, groupId: string): Buffer {
  checkName(streamName)
  checkName(groupId)
  const s = Buffer.byteLength(streamName)
  const g = Buffer.byteLength(groupId)
  if (s + g + 4 > MAX_KEY_BYTES) throw tooLong()
  const key = Buffer.allocUnsafe(s + g + 4)
  key.writeUInt16BE(s, 0)
  key.write(streamName, 2)
  key.writeUInt16BE(g, s + 2)
  key.write(groupId, s + 4)
  return key
}

/** Where a stream's groups are listed: `streamListing(stream)` + the group id. */
export function streamListing(streamName: string): Buffer {
  checkName(streamName)
  const s = Buffer.byteLength(streamName)
  const key = Buffer.allocUnsafe(s + 2)
  key.writeUInt16BE(s, 0)
  key.write(streamName, 2)
  return key
}

export const listingKey = (listing: Buffer, groupId: string) => Buffer.concat([listing, Buffer.from(groupId)])

export function itemKey(prefix: Buffer, id: string): Buffer {
  checkName(id)
  const length = Buffer.byteLength(id)
  // 8 bytes to spare: the expiry index puts a time before the item's key.
  if (prefix.length + length + 8 > MAX_KEY_BYTES) throw tooLong()
  const key = Buffer.allocUnsafe(prefix.length + length)
  prefix.copy(key)
  key.write(id, prefix.length)
  return key
}

export function historyKey(prefix: Buffer, seq: number): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + 8)
  prefix.copy(key)
  key.writeUInt32BE(Math.floor(seq / 2 ** 32), prefix.length)
  key.writeUInt32BE(seq >>> 0, prefix.length + 4)
  return key
}

/** Past every key that starts with `prefix`: UTF-8 never has 0xff, and a seq's first byte is 0. */
export const prefixEnd = (prefix: Buffer) => Buffer.concat([prefix, Buffer.from([0xff])])

const tooLong = () => new GatewayError('INVALID_ARGUMENT', `stream name, group id and item id (or idempotency key) may be at most ${MAX_KEY_BYTES - 12} bytes together`)

/**
 * A history entry as stored: the record without the fields its key and the store already tell, built around
 * the payload's JSON (the item or the event, encoded once per write), whose length is the entry's weight.
 */
export function encodeHistoryEntry(record: LogRecord, payloadJson: string): Buffer {
  const id = record.id === undefined ? '' : `,"id":${JSON.stringify(record.id)}`
  const json = `{"seq":${record.seq},"timestamp":${record.timestamp},"kind":"${record.kind}"${id},"${record.kind === 'event' ? 'event' : 'item'}":${payloadJson}}`
  const value = Buffer.allocUnsafe(4 + Buffer.byteLength(json))
  value.writeUInt32BE(payloadJson.length, 0)
  value.write(json, 4)
  return value
}

export const historyEntryWeight = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, 4).readUInt32BE(0)

export function decodeHistoryEntry(value: Uint8Array, streamName: string, groupId: string, epoch: string): LogRecord {
  const entry = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8', 4))
  return { streamName, groupId, epoch, ...entry }
}
