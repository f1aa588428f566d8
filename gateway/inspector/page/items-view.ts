import type { Item } from '../../../clients/typescript/src/types.ts'
import { el } from './dom.ts'

export type Change = 'create' | 'update' | 'delete'

/** How long a changed row stays marked; a deleted row is shown struck through for as long, then removed. */
export const MARK_MS = 2500
const SHOWN_CHARS = 2000

interface Row {
  item: Item
  json: string
  element: HTMLTableRowElement
  data: HTMLElement
  change: Change | undefined
  timer: ReturnType<typeof setTimeout> | undefined
}

const dataOf = ({ id: _id, ...data }: Item) => data

/**
 * The items of the chosen group, one row each, in id order. Each state from the subscription is compared
 * with the last: rows of created, updated and deleted items are marked for a moment (`data-change`).
 * The subscription replaces the object of every item it changes, so only those are compared as JSON.
 */
export class ItemsView {
  private readonly rows = new Map<string, Row>()
  /** The row ids in display order. */
  private readonly order: string[] = []
  /** The first state after a reset is the group as it is, not a change. */
  private fresh = true

  constructor(
    private readonly body: HTMLTableSectionElement,
    actions: { edit(item: Item): void; remove(id: string): void },
  ) {
    body.addEventListener('click', (event) => {
      const button = (event.target as Element).closest('button[data-action]')
      const id = button?.closest('tr')?.getAttribute('data-id')
      const row = id === null || id === undefined ? undefined : this.rows.get(id)
      if (!button || !row) return
      if (button.getAttribute('data-action') === 'edit') actions.edit(row.item)
      else actions.remove(row.item.id)
    })
  }

  reset() {
    for (const row of this.rows.values()) clearTimeout(row.timer)
    this.rows.clear()
    this.order.length = 0
    this.body.replaceChildren()
    this.fresh = true
  }

  show(items: Item[]) {
    const mark = !this.fresh
    this.fresh = false
    const present = new Set<string>()
    for (const item of items) {
      present.add(item.id)
      const row = this.rows.get(item.id)
      if (!row) {
        this.insert(item, mark)
        continue
      }
      if (row.item === item && row.change !== 'delete') continue
      const json = JSON.stringify(dataOf(item))
      const revived = row.change === 'delete'
      row.item = item
      if (json === row.json && !revived) continue
      row.json = json
      row.data.textContent = cut(json)
      if (mark || revived) this.mark(row, revived ? 'create' : 'update')
    }
    for (const row of this.rows.values()) {
      if (!present.has(row.item.id) && row.change !== 'delete') {
        if (mark) this.mark(row, 'delete')
        else this.drop(row)
      }
    }
  }

  private insert(item: Item, mark: boolean) {
    const json = JSON.stringify(dataOf(item))
    const data = el('code', {}, cut(json))
    const element = el(
      'tr',
      { 'data-id': item.id },
      el('td', { class: 'id' }, el('code', {}, item.id)),
      el('td', { class: 'data' }, data),
      el(
        'td',
        { class: 'row-actions' },
        el('button', { type: 'button', 'data-action': 'edit' }, 'Edit'),
        el('button', { type: 'button', 'data-action': 'delete' }, 'Delete'),
      ),
    )
    const row: Row = { item, json, element, data, change: undefined, timer: undefined }
    this.rows.set(item.id, row)
    const at = insertionPoint(this.order, item.id)
    const next = this.order[at]
    this.order.splice(at, 0, item.id)
    this.body.insertBefore(element, next === undefined ? null : this.rows.get(next)!.element)
    if (mark) this.mark(row, 'create')
  }

  private mark(row: Row, change: Change) {
    clearTimeout(row.timer)
    row.change = change
    row.element.setAttribute('data-change', change)
    row.timer = setTimeout(() => {
      if (change === 'delete') return this.drop(row)
      row.change = undefined
      row.element.removeAttribute('data-change')
    }, MARK_MS)
  }

  private drop(row: Row) {
    clearTimeout(row.timer)
    this.rows.delete(row.item.id)
    this.order.splice(insertionPoint(this.order, row.item.id), 1)
    row.element.remove()
  }
}

const cut = (json: string) => (json.length > SHOWN_CHARS ? `${json.slice(0, SHOWN_CHARS - 1)}…` : json)

/** Where `id` is, or goes, in the sorted `ids` (UTF-16 order, as JavaScript compares strings). */
function insertionPoint(ids: string[], id: string): number {
  let low = 0
  let high = ids.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (ids[middle]! < id) low = middle + 1
    else high = middle
  }
  return low
}
