/**
 * Limits that protect the process, enforced once in the core so that every transport refuses the same input
 * the same way. The defaults are above what real apps send by accident.
 */
export interface Limits {
  /** Largest item, as JSON, that Set accepts; also the largest custom event payload. */
  maxItemBytes: number
  /** Largest WebSocket frame a client may send (larger: close 1009). */
  maxFrameBytes: number
  /** Longest stream name, group id or item id, in UTF-8 bytes. */
  maxNameBytes: number
  /**
   * Deepest nesting of objects and arrays in an item or event payload (the payload itself is level 1). Kept
   * where every wire can carry it: protobuf decoders stop at 100 message levels, and a JSON level costs up to
   * three of them as a `google.protobuf.Struct`.
   */
  maxDepth: number
  /** Subscriptions one connection may hold at once (HTTP/2: one session, however many streams). */
  maxSubscriptionsPerConnection: number
  /** Unsent bytes past which a connection's pending changes of one item are merged into the newest. */
  conflateBytes: number
  /** Unsent bytes past which a connection is closed as a slow consumer. */
  maxQueueBytes: number
}

export const defaultLimits: Limits = {
  maxItemBytes: 1024 * 1024,
  maxFrameBytes: 4 * 1024 * 1024,
  maxNameBytes: 256,
  maxDepth: 32,
  maxSubscriptionsPerConnection: 1000,
  conflateBytes: 1024 * 1024,
  maxQueueBytes: 16 * 1024 * 1024,
}
