/** Limits that protect the process; the defaults are above what real apps send by accident. */
export interface Limits {
  /** Largest item, as JSON, that Set accepts. */
  maxItemBytes: number
  /** Largest WebSocket frame a client may send (larger: close 1009). */
  maxFrameBytes: number
  /** Subscriptions one connection may hold at once. */
  maxSubscriptionsPerConnection: number
  /** Bytes a connection may have waiting to be sent before it is closed as a slow consumer. */
  maxQueueBytes: number
}

export const defaultLimits: Limits = {
  maxItemBytes: 1024 * 1024,
  maxFrameBytes: 4 * 1024 * 1024,
  maxSubscriptionsPerConnection: 1000,
  maxQueueBytes: 16 * 1024 * 1024,
}
