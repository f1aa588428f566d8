import type { Metrics, Transport } from '../observability/metrics.ts'
import type { WriteRate } from './write-rate.ts'

/** The transports that hold connections and subscriptions (REST calls hold neither). */
export const STREAMING_TRANSPORTS = ['websocket', 'sse', 'connect'] as const satisfies readonly Transport[]
export type StreamingTransport = (typeof STREAMING_TRANSPORTS)[number]

/** `GET /inspector/status`: what the page shows about the gateway that no other API gives. */
export interface InspectorStatus {
  /** Whether an `authenticate` hook is configured (the page then asks for a token). */
  auth: boolean
  /** Open connections and active subscriptions on this instance, per transport. */
  transports: Record<StreamingTransport, { connections: number; subscriptions: number }>
  /** Changes and custom events written through this instance: the total, and per second over the last seconds. */
  writes: { total: number; perSecond: number }
}

/** Reads the status from the gateway's metrics, the one place these numbers are kept. */
export async function readStatus(metrics: Metrics, rate: WriteRate, auth: boolean): Promise<InspectorStatus> {
  const transports = Object.fromEntries(STREAMING_TRANSPORTS.map((t) => [t, { connections: 0, subscriptions: 0 }])) as InspectorStatus['transports']
  const [connections, subscriptions] = await Promise.all([metrics.connections.get(), metrics.subscriptions.get()])
  for (const [gauge, field] of [[connections, 'connections'], [subscriptions, 'subscriptions']] as const) {
    for (const { labels, value } of gauge.values) {
      const row = transports[labels.transport as StreamingTransport]
      if (row) row[field] = value
    }
  }
  const writes = await rate.now()
  return { auth, transports, writes }
}
