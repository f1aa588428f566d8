/** The subscription a client asks for, as Motia's `canAccess` receives it. */
export interface Subscription {
  groupId: string
  id?: string
}

/**
 * A stream definition: Motia's `StreamConfig`, exported as `config` from a `*.stream.ts|js|mjs` file.
 * `baseConfig` is accepted for compatibility; the gateway's store is chosen on the command line.
 */
export interface StreamConfig {
  name: string
  schema?: unknown
  baseConfig?: { storageType: string }
  canAccess?: (subscription: Subscription, authContext: unknown) => boolean | Promise<boolean>
  /** streamgate: events kept per group for resume (default 1000). */
  historySize?: number
  /** streamgate: bytes of payload (as JSON) those events may take per group (default 8 MiB). */
  historyBytes?: number
}
