/**
 * `@streamgate/client`: Motia's stream client API over WebSocket (Motia's frames) or Server-Sent Events,
 * with resume, back-off and a token provider. The Connect transport is in `@streamgate/client/connect`
 * and the React bindings in `@streamgate/client/react`; this entry point contains no protobuf code.
 */
export { Stream, type StreamOptions } from './stream.ts'
export { StreamSubscription, StreamItemSubscription, StreamGroupSubscription, compareBy } from './subscription.ts'
export { websocketTransport, type WebSocketTransportOptions, type WebSocketLike, type WebSocketInstance } from './websocket.ts'
export { sseTransport, type SseTransportOptions } from './sse.ts'
export { backoffDelay, type BackoffOptions } from './backoff.ts'
export { browserNetwork, type NetworkMonitor, type NetworkChange } from './network.ts'
export type { Transport, TransportConnection, TransportHost } from './transport.ts'
export type { Channel } from './channel.ts'
export type { Lifeline, Link } from './lifeline.ts'
export type {
  Address,
  CustomEventListener,
  Frame,
  FrameEvent,
  Item,
  JoinData,
  Listener,
  StreamError,
  StreamErrorKind,
  StreamStatus,
} from './types.ts'
