import type { IncomingHttpHeaders } from 'node:http'

/** What `authenticate` receives: Node's lower-cased headers, the request target with its query, the token. */
export interface AuthRequest {
  headers: IncomingHttpHeaders
  url: string
  /**
   * The token every transport finds the same way: `Authorization: Bearer`, else `?authToken=`, else the
   * WebSocket subprotocol pair `Authorization, <token>`.
   */
  token?: string
}

/** The hooks of a `--config` module. */
export interface Hooks {
  /** Returns the auth context (null/undefined: anonymous) or throws to refuse the connection or request. */
  authenticate?: (request: AuthRequest) => unknown
}

/** Who makes a call: a client with its auth context, or code embedded in the gateway's process. */
export type Caller = { kind: 'client'; authContext: unknown } | { kind: 'internal' }
export const INTERNAL: Caller = { kind: 'internal' }

export function tokenFrom(headers: IncomingHttpHeaders, url: string): string | undefined {
  const authorization = headers.authorization
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim()
  const query = url.indexOf('?')
  if (query >= 0) {
    const fromQuery = new URLSearchParams(url.slice(query + 1)).get('authToken')
    if (fromQuery) return fromQuery
  }
  const protocols = headers['sec-websocket-protocol']?.split(',').map((p) => p.trim())
  if (protocols?.[0] === 'Authorization' && protocols[1]) return protocols[1]
  return undefined
}
