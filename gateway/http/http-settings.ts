/**
 * How the shared port treats connections, whatever they carry. Every field is a flag and an environment
 * variable (gateway/config/cli-options.ts) and a line of the README's "Limits and hardening". None of them
 * ends a long-lived stream (SSE, WebSocket, gRPC/Connect server streaming): timeouts only run while a
 * connection is sending its first bytes or a request, or while it has nothing in flight.
 */
export interface HttpSettings {
  /**
   * A new connection must, within this, send enough bytes to tell HTTP/1.1 from HTTP/2 (under TLS: finish
   * its handshake); an HTTP/2 connection must also complete its preface and first SETTINGS.
   */
  firstBytesTimeoutMs: number
  /** HTTP/1.1: a request's headers must arrive within this (slowloris). */
  headersTimeoutMs: number
  /** HTTP/1.1: a whole request, body included, must arrive within this. Responses are not limited. */
  requestTimeoutMs: number
  /**
   * An HTTP/1.1 connection between two requests (keep-alive), or an HTTP/2 session without an open stream,
   * is closed after this long. Above the 60 s idle timeout of common load balancers, so they close first.
   */
  idleTimeoutMs: number
  /** HTTP/1.1 request line and headers; HTTP/2 header list (uncompressed, advertised as SETTINGS). */
  maxHeaderBytes: number
  /** HTTP/2: memory one session may use (header tables, data queued to send); past it new streams are refused. */
  maxSessionMemoryBytes: number
  /** Open TCP connections; new ones beyond it are closed at once. Keep it below the file descriptor limit. */
  maxConnections: number
}

export const defaultHttpSettings: HttpSettings = {
  firstBytesTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 72_000,
  maxHeaderBytes: 16 * 1024,
  maxSessionMemoryBytes: 32 * 1024 * 1024,
  maxConnections: 50_000,
}
