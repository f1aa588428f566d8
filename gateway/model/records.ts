/** A JSON object as stored and delivered; every stored item carries its own `id`. */
export type JsonObject = { [key: string]: JsonValue }
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject
export type Item = JsonObject & { id: string }

/** What a subscription follows: a whole group, or one item of it when `id` is set. */
export interface Address {
  streamName: string
  groupId: string
  id?: string
}

export interface CustomEvent {
  type: string
  data: unknown
}

/**
 * One entry of a group's log. Every change and every custom event of a group gets the next `seq` and a
 * `timestamp` strictly greater than any earlier entry's; both are assigned by the store, atomically with the
 * write, so create/update is decided once and no two entries share a clock value.
 */
export type LogRecord = {
  streamName: string
  groupId: string
  seq: number
  timestamp: number
  epoch: string
} & (
  | { kind: 'create' | 'update' | 'delete'; id: string; item: Item }
  | { kind: 'event'; id?: string; event: CustomEvent }
)

/** A group that holds items, as group listings show it. */
export interface GroupInfo {
  groupId: string
  items: number
}

/** A group's state at one point of its log: what a `sync` carries. */
export interface Snapshot {
  items: Item[]
  /** Each item's version (the seq of the log entry that last changed it), parallel to `items`. */
  versions: number[]
  /** The seq of the last log entry the snapshot includes (0 for a group never written). */
  seq: number
  timestamp: number
  epoch: string
}
