import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

const TRANSPORTS = ['websocket', 'sse', 'rest', 'connect'] as const
export type Transport = (typeof TRANSPORTS)[number]
/** Who wrote: a transport's client, or code in the gateway's process (`streams.<name>.set`). */
export type WriteOrigin = Transport | 'internal'

/** From half a millisecond (a memory store) to a second (a store that struggles). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** One registry per gateway, so several gateways can live in one process (tests, embedding). */
export function createMetrics() {
  const registry = new Registry()
  // The default metrics' names already start with `process_` or `nodejs_`.
  collectDefaultMetrics({ register: registry, prefix: 'streamgate_' })
  const registers = [registry]
  const framesDelivered = new Counter({ name: 'streamgate_frames_delivered_total', help: 'Frames written to subscribers', labelNames: ['transport'], registers })
  // Read only when scraped, so that nothing is counted on the delivery path.
  let queuedBytes: () => Iterable<[Transport, number]> = () => []
  return {
    registry,
    connections: new Gauge({ name: 'streamgate_connections', help: 'Open connections', labelNames: ['transport'], registers }),
    subscriptions: new Gauge({ name: 'streamgate_subscriptions', help: 'Active subscriptions', labelNames: ['transport'], registers }),
    eventsWritten: new Counter({ name: 'streamgate_events_written_total', help: 'Changes and custom events written through this instance', registers }),
    framesDelivered,
    /** The counter's child per transport, made once: every connection counts its frames on one of these. */
    framesDeliveredOn: Object.fromEntries(TRANSPORTS.map((transport) => [transport, framesDelivered.labels(transport)])) as Record<Transport, { inc(count: number): void }>,
    queueLimitCloses: new Counter({ name: 'streamgate_queue_limit_closes_total', help: 'Connections closed because their outbound queue exceeded the limit', labelNames: ['transport'], registers }),
    connectionsRefused: new Counter({ name: 'streamgate_connections_refused_total', help: 'Connections closed as soon as they were opened, by reason', labelNames: ['reason'], registers }),
    preconditionFailures: new Counter({ name: 'streamgate_precondition_failures_total', help: 'Writes refused because their If-Match / If-None-Match / version condition did not hold', registers }),
    expirations: new Counter({ name: 'streamgate_expirations_total', help: 'Items deleted by this instance because their ttl ran out', registers }),
    rejectedInputs: new Counter({ name: 'streamgate_rejected_inputs_total', help: 'Inputs refused, by reason', labelNames: ['transport', 'reason'], registers }),
    writeDuration: new Histogram({
      name: 'streamgate_write_duration_seconds',
      help: 'Time the store took to write a change or custom event, by operation and by who wrote it',
      labelNames: ['operation', 'transport'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    deliveryLag: new Histogram({
      name: 'streamgate_delivery_lag_seconds',
      help: "Time from a record's store timestamp to the end of the delivery round that handed it to its subscribers' connections, once per record and round",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    outboundQueuedBytes: new Gauge({
      name: 'streamgate_outbound_queued_bytes',
      help: "Bytes waiting in connections' outbound queues, not yet handed to their sockets",
      labelNames: ['transport'],
      registers,
      collect() {
        this.reset()
        for (const [transport, bytes] of queuedBytes()) this.inc({ transport }, bytes)
      },
    }),
    /** What `streamgate_outbound_queued_bytes` reads at each scrape: the gateway's connections and their queues. */
    measureQueuedBytes(source: () => Iterable<[Transport, number]>) {
      queuedBytes = source
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
