/** An item as streamgate (and Motia) deliver it: a JSON object that carries its own `id`. */
export type Item = { id: string; [key: string]: unknown }

/** What a subscription follows: a whole group, or one item of it when `id` is set. */
export interface Address {
  streamName: string
  groupId: string
  id?: string
}

/** Motia's join data (`subscription.sub`): the address plus the id the WebSocket join uses. */
export interface JoinData extends Address {
  subscriptionId: string
}

/**
 * A server frame in Motia's envelope (spec section 4). streamgate adds `sequence` (the position in the
 * group's log, which the reducers order by) and `resumeToken` to every sync and change; error frames carry
 * neither. A sync that answers an unusable resume token carries `event.reset: true`. A sync carries
 * `versions`, each item's version by id; a change's version is its `sequence`, unless it is `conflated`
 * (it stands for that many merged changes and keeps the oldest one's place in the log).
 */
export interface Frame {
  timestamp: number
  streamName: string
  groupId: string
  id?: string | null
  sequence?: number
  resumeToken?: string
  versions?: Record<string, number>
  conflated?: number
  event: FrameEvent
}

export type FrameEvent =
  | { type: 'sync'; data: unknown; reset?: boolean }
  | { type: 'create' | 'update' | 'delete'; data: unknown }
  | { type: 'event'; event: { type: string; data?: unknown } }
  | { type: string; data?: unknown; event?: { type: string; data?: unknown } }

/** Where the connection stands. `reconnecting` waits out a back-off delay; `offline` waits for `online`. */
export type StreamStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed'

export type StreamErrorKind =
  /** A connection failed or ended abnormally; the stream reconnects with back-off. */
  | 'connection'
  /** The gateway refused the credentials (HTTP 401, UNAUTHENTICATED); the token provider is asked again. */
  | 'auth'
  /** A subscription was refused (access denied, unknown stream, bad name): it is not retried. */
  | 'refused'
  /** The gateway sent something this client cannot read. */
  | 'protocol'
  /** A change or event listener of the application threw; the stream carries on. */
  | 'listener'

/** Errors are values: they reach `onError` listeners, never the host as exceptions. */
export interface StreamError {
  kind: StreamErrorKind
  message: string
  /** The gateway's code when it sent one (`STREAM_ACCESS_DENIED`, `NOT_FOUND`, HTTP status, Connect code). */
  code?: string
  /** The subscription concerned, for `refused`. */
  address?: Address
  cause?: unknown
}

export type Listener<T> = (state: T) => void
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CustomEventListener = (data: any) => void
