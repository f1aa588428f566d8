import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import { type ConnectError, type HandlerContext, createContextKey } from '@connectrpc/connect'
import { type Caller, type Log, tokenFrom } from '../../core/auth.ts'
import type { Gateway } from '../../core/gateway.ts'
import { toConnectError } from './errors.ts'

/** The Node request and response under a call, whichever HTTP version carried it. */
export interface Exchange {
  request: IncomingMessage | Http2ServerRequest
  response: ServerResponse | Http2ServerResponse
  /** Fastify's request logger: its lines carry the request id. */
  log: Log
}

export const exchangeKey = createContextKey<Exchange | undefined>(undefined, { description: 'streamgate HTTP exchange' })
const callerKey = createContextKey<Caller | undefined>(undefined, { description: 'streamgate caller' })

/**
 * Authenticates a call the way every transport does: the config's `authenticate` gets Node's lower-cased
 * header object (gRPC metadata are HTTP/2 headers) and the request target; the token is found by the same
 * rules (`authorization: Bearer`, else `?authToken=`). Runs before the request body is read.
 */
export async function authenticateRequest(gateway: Gateway, headers: IncomingHttpHeaders, url: string, log: Log): Promise<Caller> {
  try {
    return await gateway.authenticate({ headers, url, token: tokenFrom(headers, url) }, { transport: 'connect', log })
  } catch (error) {
    throw toConnectError(error)
  }
}

/** `authenticateRequest` as connect-es's request gate. */
export function authenticateCall(gateway: Gateway, onRefused: (failure: ConnectError) => void) {
  return async (context: HandlerContext) => {
    const exchange = context.values.get(exchangeKey)
    const headers = exchange?.request.headers ?? Object.fromEntries(context.requestHeader)
    const url = exchange?.request.url ?? new URL(context.url).pathname
    try {
      context.values.set(callerKey, await authenticateRequest(gateway, headers, url, logOf(gateway, context)))
    } catch (error) {
      onRefused(error as ConnectError)
      throw error
    }
  }
}

/** The call's request logger, or the gateway's for a call that came without an exchange. */
export const logOf = (gateway: Gateway, context: HandlerContext): Log => context.values.get(exchangeKey)?.log ?? gateway.logger

export function callerOf(context: HandlerContext): Caller {
  const caller = context.values.get(callerKey)
  if (!caller) throw new Error('call was not authenticated: the request gate did not run')
  return caller
}

/**
 * Cuts a call's stream at once. HTTP/2: RST_STREAM with ENHANCE_YOUR_CALM, which gRPC and Connect clients
 * report as RESOURCE_EXHAUSTED; HTTP/1.1 has nothing finer than closing the connection.
 */
export function cutExchange({ request }: Exchange) {
  if ('stream' in request) request.stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
  else request.socket.destroy()
}

/**
 * Calls `written` once the response is complete (on HTTP/2, when its stream's writable side finished: the
 * compatibility response only reports 'finish' when the whole stream closed), or the exchange ended.
 */
export function whenWritten({ request, response }: Exchange, written: () => void) {
  let done = false
  const once = () => {
    if (done) return
    done = true
    written()
  }
  response.once('close', once)
  if ('stream' in request) request.stream.once('finish', once)
  else response.once('finish', once)
}
