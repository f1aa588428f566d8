/**
 * Why the core ends a connection. Each transport maps a reason onto its own signal (a WebSocket close code,
 * the end of an SSE stream, a Connect/gRPC status) and every client knows what to do: come back and resume.
 */
export type Disconnect = 'shutdown' | 'slow_consumer' | 'internal'

export const disconnectMessage: Record<Disconnect, string> = {
  shutdown: 'server shutting down - reconnect and resume',
  slow_consumer: 'outbound queue limit exceeded (the client reads too slowly) - reconnect and resume',
  internal: 'internal error while delivering - reconnect and resume',
}
