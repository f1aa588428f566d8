import { type InspectorStatus, STREAMING_TRANSPORTS } from '../status.ts'
import { el } from './dom.ts'

const LABELS: Record<(typeof STREAMING_TRANSPORTS)[number], string> = { websocket: 'WebSocket', sse: 'SSE', connect: 'Connect/gRPC' }

/** Connections and subscriptions per transport, and the write rate, from `GET /inspector/status`. */
export function showStatus(status: InspectorStatus, table: HTMLTableSectionElement, rate: HTMLElement, total: HTMLElement) {
  table.replaceChildren(
    ...STREAMING_TRANSPORTS.map((transport) => {
      const { connections, subscriptions } = status.transports[transport]
      return el(
        'tr',
        { 'data-transport': transport },
        el('th', { scope: 'row' }, LABELS[transport]),
        el('td', { class: 'connections' }, String(connections)),
        el('td', { class: 'subscriptions' }, String(subscriptions)),
      )
    }),
  )
  rate.textContent = status.writes.perSecond.toLocaleString('en')
  total.textContent = status.writes.total.toLocaleString('en')
}
