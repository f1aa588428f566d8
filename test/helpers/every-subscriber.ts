import type { JsonObject } from '@bufbuild/protobuf'
import type { SubscribeResponse } from '../../gateway/gen/streamgate/v1/stream_pb.ts'
import { createConnectTransport } from '@connectrpc/connect-node'
import { follow, fromGrpcStruct, fromGrpcValue, grpcJsClient, hostPort, streamClient, valueJson } from './connect-clients.ts'
import { until } from './gateway.ts'
import { pythonSubscriber } from './python-client.ts'
import { type Frame, rawClient } from './raw-ws.ts'
import { sseRead } from './sse.ts'

/** One event as a subscriber got it, whatever its wire: a change with its item, or a custom event. */
export interface Received {
  kind: 'sync' | 'create' | 'update' | 'delete' | 'event'
  id?: string
  item?: unknown
  event?: { type: string; data: unknown }
}

export interface Subscriber {
  name: string
  received: Received[]
  /** Why the subscription ended, if it did. */
  ended(): string | undefined
  close(): void | Promise<unknown>
}

const fromFrame = (frame: Frame): Received => {
  const { type } = frame.event
  if (type === 'sync') return { kind: 'sync' }
  if (type === 'event') return { kind: 'event', id: frame.id, event: frame.event.event as Received['event'] }
  return { kind: type as Received['kind'], id: frame.id, item: frame.event.data }
}

const fromResponse = (response: SubscribeResponse): Received => {
  const { case: kind, value } = response.event
  if (kind === 'sync') return { kind: 'sync' }
  if (kind === 'custom') return { kind: 'event', id: response.id || undefined, event: { type: value.type, data: value.data && valueJson(value.data) } }
  return { kind: kind!, id: response.id, item: value?.item as JsonObject }
}

/**
 * One subscriber to a group on every wire there is: Motia's WebSocket frames, SSE, Connect with the binary
 * and the JSON codec (connect-es on HTTP/2 and HTTP/1.1), gRPC with @grpc/grpc-js (protobuf.js decodes), and
 * gRPC with Python's grpcio (Google's upb decodes). Resolves once every one has its sync.
 */
export async function subscribeEverywhere(url: string, streamName: string, groupId: string): Promise<Subscriber[]> {
  const at = { streamName, groupId }
  const ws = await rawClient(url.replace(/^http/, 'ws'))
  ws.join(streamName, groupId)
  const sse = await sseRead(`${url}/streams/${encodeURIComponent(streamName)}/${encodeURIComponent(groupId)}`)
  const connect = (name: string, transport: ReturnType<typeof createConnectTransport>): Subscriber => {
    const abort = new AbortController()
    const followed = follow(streamClient(transport).subscribe(at, { signal: abort.signal }))
    const received: Received[] = []
    return {
      name,
      get received() {
        received.length = 0
        received.push(...followed.received.map(fromResponse))
        return received
      },
      ended: () => (followed.ended ? `ended: ${followed.error?.message ?? 'completed'}` : undefined),
      close: () => abort.abort(),
    }
  }
  const grpcJs = grpcJsClient(hostPort(url))
  const grpcCall = grpcJs.Subscribe!(at)
  const grpcReceived: Received[] = []
  let grpcEnded: string | undefined
  grpcCall.on('data', (event: any) => {
    if (event.event === 'sync') grpcReceived.push({ kind: 'sync' })
    else if (event.event === 'custom') grpcReceived.push({ kind: 'event', id: event.id || undefined, event: { type: event.custom.type, data: event.custom.data ? fromGrpcValue(event.custom.data) : undefined } })
    else grpcReceived.push({ kind: event.event, id: event.id, item: fromGrpcStruct(event[event.event].item) })
  })
  grpcCall.on('error', (error: Error) => (grpcEnded = `ended: ${error.message}`))
  grpcCall.on('end', () => (grpcEnded ??= 'ended'))
  const python = pythonSubscriber(['--target', hostPort(url), streamName, groupId])

  const subscribers: Subscriber[] = [
    { name: 'WebSocket', get received() { return ws.frames.map(fromFrame) }, ended: () => (ws.ws.readyState > 1 ? 'closed' : undefined), close: () => ws.close() },
    { name: 'SSE', get received() { return sse.messages.map((m) => fromFrame(m.frame)) }, ended: () => (sse.ended ? 'ended' : undefined), close: () => sse.close() },
    connect('Connect binary, HTTP/2', createConnectTransport({ baseUrl: url, httpVersion: '2' })),
    connect('Connect JSON, HTTP/1.1', createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: false })),
    { name: 'gRPC (@grpc/grpc-js)', received: grpcReceived, ended: () => grpcEnded, close: () => (grpcCall.cancel(), grpcJs.close()) },
    {
      name: 'gRPC (Python grpcio)',
      get received() {
        return python.events.map((e): Received => (e.kind === 'sync' ? { kind: 'sync' } : e.kind === 'custom' ? { kind: 'event', id: e.id || undefined, event: { type: e.type!, data: e.data } } : { kind: e.kind, id: e.id, item: e.item }))
      },
      ended: () => (python.stderr ? `stderr: ${python.stderr}` : undefined),
      close: () => python.stop(),
    },
  ]
  await until(() => subscribers.every((s) => s.received[0]?.kind === 'sync' || s.ended()), 'a sync on every wire', 20_000)
  const failed = subscribers.filter((s) => s.ended())
  if (failed.length) throw new Error(`subscriptions failed: ${failed.map((s) => `${s.name}: ${s.ended()}`).join('; ')}`)
  return subscribers
}
