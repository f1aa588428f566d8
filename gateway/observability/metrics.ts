import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'

export type Transport = 'websocket' | 'sse' | 'rest' | 'connect'

/** One registry per gateway, so several gateways can live in one process (tests, embedding). */
export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'streamgate_process_' })
  const registers = [registry]
  return {
    registry,
    connections: new Gauge({ name: 'streamgate_connections', help: 'Open connections', labelNames: ['transport'], registers }),
    subscriptions: new Gauge({ name: 'streamgate_subscriptions', help: 'Active subscriptions', labelNames: ['transport'], registers }),
    eventsWritten: new Counter({ name: 'streamgate_events_written_total', help: 'Changes and custom events written through this instance', registers }),
    framesDelivered: new Counter({ name: 'streamgate_frames_delivered_total', help: 'Frames written to subscribers', labelNames: ['transport'], registers }),
    queueLimitCloses: new Counter({ name: 'streamgate_queue_limit_closes_total', help: 'Connections closed because their outbound queue exceeded the limit', labelNames: ['transport'], registers }),
    connectionsRefused: new Counter({ name: 'streamgate_connections_refused_total', help: 'Connections closed as soon as they were opened, by reason', labelNames: ['reason'], registers }),
    preconditionFailures: new Counter({ name: 'streamgate_precondition_failures_total', help: 'Writes refused because their If-Match / If-None-Match / version condition did not hold', registers }),
    expirations: new Counter({ name: 'streamgate_expirations_total', help: 'Items deleted by this instance because their ttl ran out', registers }),
    rejectedInputs: new Counter({ name: 'streamgate_rejected_inputs_total', help: 'Inputs refused, by reason', labelNames: ['transport', 'reason'], registers }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
