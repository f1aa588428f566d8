import type { IncomingHttpHeaders } from 'node:http'
import type { Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import type { Transport } from '../observability/metrics.ts'

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

/** Where the lines about one request or connection go: a child logger that names it (`reqId`, `connId`). */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

/** How a client reached the gateway: its transport (for metrics only: no decision depends on it) and its log. */
export interface Via {
  transport: Transport
  log: Log
}

/** Who makes a call: a client with its auth context, or code embedded in the gateway's process. */
export type Caller = ({ kind: 'client'; authContext: unknown } & Via) | { kind: 'internal' }
export const INTERNAL: Caller = { kind: 'internal' }

/** An RFC 9110 token: what an authentication scheme is made of. */
const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A bearer token: visible ASCII without spaces (RFC 6750's b64token, and the opaque tokens apps use). */
const BEARER_TOKEN = /^[\x21-\x7e]+$/

const unreadable = (what: string) => new GatewayError('UNAUTHENTICATED', `${what} cannot be read`)

/**
 * The bearer token of an `Authorization` header (any case of `Bearer`); undefined for another scheme, which
 * the `authenticate` hook may read from the headers itself. A header that is not `<scheme> <credentials>`,
 * or a bearer header without exactly one token, is refused: it must never pass as anonymous.
 */
function bearerToken(header: string | string[]): string | undefined {
  if (typeof header !== 'string') throw unreadable('a repeated Authorization header')
  const value = header.trim()
  const space = value.search(/[ \t]/)
  const scheme = space < 0 ? value : value.slice(0, space)
  if (!SCHEME.test(scheme)) throw unreadable('the Authorization header')
  if (scheme.toLowerCase() !== 'bearer') return undefined
  const token = space < 0 ? '' : value.slice(space).trim()
  if (!BEARER_TOKEN.test(token)) throw unreadable('the Authorization bearer token')
  return token
}

/**
 * The caller's token, found the same way on every transport: `Authorization: Bearer`, else `?authToken=`,
 * else the WebSocket subprotocol pair. Throws UNAUTHENTICATED for a token that cannot be read, so that an
 * unreadable one is refused instead of treated as anonymous.
 */
export function tokenFrom(headers: IncomingHttpHeaders, url: string): string | undefined {
  const authorization = headers.authorization as string | string[] | undefined
  const fromHeader = authorization === undefined ? undefined : bearerToken(authorization)
  if (fromHeader !== undefined) return fromHeader
  const query = url.indexOf('?')
  if (query >= 0) {
    const fromQuery = new URLSearchParams(url.slice(query + 1)).getAll('authToken')
    if (fromQuery.length > 1) throw unreadable('a repeated authToken parameter')
    if (fromQuery[0]) return fromQuery[0]
  }
  const protocols = headers['sec-websocket-protocol']?.split(',').map((p) => p.trim())
  if (protocols?.[0] === 'Authorization' && protocols[1]) return protocols[1]
  return undefined
}

const REDACTED = '[redacted]'

/** A request target as it may be logged or echoed: the value of every `authToken` parameter replaced. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  const params = new URLSearchParams(url.slice(query + 1))
  if (!params.has('authToken')) return url
  const redacted = [...params].map(([name, value]) => [name, name === 'authToken' ? REDACTED : value])
  return `${url.slice(0, query)}?${new URLSearchParams(redacted)}`
}
