/**
 * `@streamgate/client/connect`: the Connect transport. Each subscription is one server-streaming
 * `StreamService.Subscribe` call that resumes from its last `resume_token`. This entry point pulls in
 * connect-es and the generated protobuf code; the main entry point does not.
 */
import { toJson } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { Code, ConnectError, createClient, type Transport as RpcTransport } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-web'
import { StreamService, type SubscribeResponse } from '../gen/streamgate/v1/stream_pb.js'
import type { Channel } from './channel.ts'
import type { Lifeline, Link } from './lifeline.ts'
import { httpBase, type Transport, type TransportHost } from './transport.ts'
import type { Frame } from './types.ts'

export interface ConnectTransportOptions {
  /**
   * A connect-es transport: `createGrpcWebTransport(...)` from @connectrpc/connect-web, or
   * @connectrpc/connect-node's `createConnectTransport`/`createGrpcTransport` (HTTP/2) in Node; or a
   * function that makes one for the stream's address (as an http(s) URL). Default: the Connect protocol over
   * fetch at the stream's address.
   */
  transport?: RpcTransport | ((baseUrl: string) => RpcTransport)
  /** With the default transport: protobuf's binary format (default) or JSON (`false`). */
  binary?: boolean
  /** With the default transport: the fetch implementation. */
  fetch?: typeof globalThis.fetch
}

/** Codes that another attempt will not change: the subscription gets an `error` event and is parked. */
const REFUSALS: Partial<Record<Code, string>> = {
  [Code.PermissionDenied]: 'STREAM_ACCESS_DENIED',
  [Code.NotFound]: 'NOT_FOUND',
  [Code.InvalidArgument]: 'INVALID_ARGUMENT',
}

/** A Subscribe event in Motia's frame shape, so one reducer serves every transport. */
export function frameOf(response: SubscribeResponse, channel: Channel): Frame | undefined {
  const head = {
    timestamp: Number(response.timestamp),
    streamName: response.streamName,
    groupId: response.groupId,
    id: response.id === '' ? undefined : response.id,
    sequence: Number(response.sequence),
    resumeToken: response.resumeToken,
  }
  const { event } = response
  switch (event.case) {
    case 'sync':
      return {
        ...head,
        versions: Object.fromEntries(Object.entries(event.value.versions).map(([id, version]) => [id, Number(version)])),
        event: { type: 'sync', data: channel.isItem ? (event.value.items[0] ?? null) : event.value.items, reset: event.value.reset },
      }
    case 'create':
    case 'update':
    case 'delete':
      return { ...head, ...(response.conflated > 1 ? { conflated: response.conflated } : {}), event: { type: event.case, data: event.value.item } }
    case 'custom':
      return { ...head, event: { type: 'event', event: { type: event.value.type, data: event.value.data === undefined ? undefined : toJson(ValueSchema, event.value.data) } } }
    default:
      return undefined
  }
}

/**
 * Connect (or gRPC, gRPC-Web with your own `transport`) server streaming: one `Subscribe` call per
 * subscription, with the `resume_token` of its last event, each reconnecting on its own with back-off.
 * The token provider's value goes in the `authorization: Bearer` header.
 */
export function connectTransport(options: ConnectTransportOptions = {}): Transport {
  return {
    name: 'connect',
    connect(host: TransportHost) {
      const baseUrl = httpBase(host.address)
      const { transport } = options
      const rpc =
        typeof transport === 'function'
          ? transport(baseUrl)
          : (transport ?? createConnectTransport({ baseUrl, useBinaryFormat: options.binary ?? true, fetch: options.fetch }))
      const client = createClient(StreamService, rpc)
      const calls = new Map<Channel, Lifeline>()

      const subscribe = (channel: Channel) => (token: string | undefined, link: Link) => {
        const { streamName, groupId, id = '' } = channel.address
        const resumeToken = channel.synced && channel.token ? channel.token : ''
        const run = async () => {
          const responses = client.subscribe(
            { streamName, groupId, id, resumeToken },
            { signal: link.signal, headers: token ? { authorization: `Bearer ${token}` } : undefined, onHeader: () => link.opened() },
          )
          for await (const response of responses) {
            link.alive()
            const frame = frameOf(response, channel)
            if (frame) host.deliver(channel, frame)
          }
          // The gateway ended the call without an error: come back and resume.
          link.ended()
        }
        run().catch((cause: unknown) => {
          if (link.signal.aborted) return
          const error = ConnectError.from(cause)
          const refusal = REFUSALS[error.code]
          if (refusal) {
            channel.refuse(refusal, error.rawMessage)
            calls.get(channel)?.stop()
            return
          }
          link.ended({ kind: error.code === Code.Unauthenticated ? 'auth' : 'connection', code: Code[error.code], message: error.rawMessage, cause })
        })
      }

      return {
        add(channel) {
          const lifeline = host.lifeline(subscribe(channel))
          calls.set(channel, lifeline)
          // A moment later: a subscription dropped in the same tick (React StrictMode) never calls.
          queueMicrotask(() => lifeline.start())
        },
        remove(channel) {
          calls.get(channel)?.close()
          calls.delete(channel)
        },
        reconnect() {
          for (const lifeline of calls.values()) lifeline.restart()
        },
        close() {
          for (const lifeline of calls.values()) lifeline.close()
          calls.clear()
        },
      }
    },
  }
}
