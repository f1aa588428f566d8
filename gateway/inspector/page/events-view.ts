import type { Frame } from '../../../clients/typescript/src/types.ts'
import { el, preview } from './dom.ts'

/** How many of the group's last frames the page keeps. */
export const EVENTS_SHOWN = 50

const time = (timestamp: number) => {
  const date = new Date(timestamp)
  const pad = (n: number, width = 2) => String(n).padStart(width, '0')
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** What a frame says, in a few words: its kind, and for custom events their type. */
function describe(frame: Frame): { kind: string; detail: string } {
  const { event } = frame
  if (event.type === 'sync') {
    const items = Array.isArray(event.data) ? `${event.data.length} items` : 'item'
    return { kind: (event as { reset?: boolean }).reset ? 'sync (reset)' : 'sync', detail: items }
  }
  if (event.type === 'event') return { kind: `event ${event.event?.type ?? ''}`.trim(), detail: preview(event.event?.data ?? null, 160) }
  return { kind: event.type, detail: preview('data' in event ? event.data : null, 160) }
}

/** The last frames of the chosen group, newest first, as the subscription received them. */
export class EventsView {
  constructor(private readonly list: HTMLOListElement) {}

  reset() {
    this.list.replaceChildren()
  }

  add(frame: Frame) {
    const { kind, detail } = describe(frame)
    const conflated = (frame as { conflated?: number }).conflated
    const entry = el(
      'li',
      { 'data-kind': frame.event.type },
      el('time', {}, time(frame.timestamp)),
      el('span', { class: 'kind' }, kind),
      frame.id ? el('code', { class: 'target' }, frame.id) : null,
      typeof frame.sequence === 'number' ? el('span', { class: 'seq' }, `#${frame.sequence}`) : null,
      conflated ? el('span', { class: 'seq' }, `×${conflated}`) : null,
      el('code', { class: 'detail' }, detail),
    )
    this.list.prepend(entry)
    while (this.list.childElementCount > EVENTS_SHOWN) this.list.lastElementChild!.remove()
  }
}
