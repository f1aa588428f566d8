import type { Item } from '../../../clients/typescript/src/types.ts'
import type { Api, ApiError } from './api.ts'
import { el, field } from './dom.ts'
import { type FieldRow, itemToRows, type JsonValue, placeViolations, rowsToData } from './field-values.ts'

export interface Target {
  stream: string
  group: string
}

/** The error lines of a form: next to a field (`.field-error[data-for]`, a field row) or for the whole form. */
class Feedback {
  constructor(private readonly form: HTMLFormElement) {}

  clear() {
    for (const p of this.form.querySelectorAll('.field-error')) p.textContent = ''
    this.form.querySelector('.form-errors')!.replaceChildren()
    this.result('')
  }

  atField(name: string, message: string) {
    this.form.querySelector(`.field-error[data-for="${name}"]`)!.textContent = message
  }

  general(messages: string[]) {
    this.form.querySelector('.form-errors')!.replaceChildren(...messages.map((m) => el('li', {}, m)))
  }

  result(text: string) {
    this.form.querySelector('.form-result')!.textContent = text
  }

  /** A refusal: schema violations go to the fields they name (`atRow`), everything else to the form. */
  refusal(error: ApiError, atRow?: (violations: ApiError['details']) => string[]) {
    const rest = error.details.length && atRow ? atRow(error.details) : error.details.map((d) => `${d.path || '(item)'}: ${d.message}`)
    this.general([error.details.length ? 'The stream\'s schema refused the item.' : `${error.message} (${error.code})`, ...rest])
  }
}

const label = ({ stream, group }: Target, id: string) => `${stream}/${group}/${id}`

/** A form that writes to the chosen group (`target`, none before one is chosen) when submitted. */
abstract class GroupForm {
  protected readonly feedback: Feedback

  constructor(
    protected readonly form: HTMLFormElement,
    protected readonly api: Api,
    protected readonly target: () => Target | undefined,
  ) {
    this.feedback = new Feedback(form)
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const chosen = target()
      this.feedback.clear()
      if (chosen) void this.submit(chosen)
    })
  }

  protected abstract submit(target: Target): Promise<void>
}

/** Put or delete an item of the chosen group; the item's fields are rows of (name, value). */
export class PutForm extends GroupForm {
  private readonly rows: HTMLElement

  constructor(form: HTMLFormElement, api: Api, target: () => Target | undefined) {
    super(form, api, target)
    this.rows = form.querySelector('#field-rows')!
    form.querySelector('#add-field')!.addEventListener('click', () => this.addRow({ name: '', value: '' }).querySelector('input')!.focus())
    form.querySelector('#delete-item')!.addEventListener('click', () => void this.remove(field(form, 'id').value))
    this.rows.addEventListener('click', (event) => {
      const button = (event.target as Element).closest('.remove-field')
      if (button) button.closest('.field-row')!.remove()
    })
    this.rows.addEventListener('input', (event) => {
      const input = event.target as HTMLInputElement
      if (input.classList.contains('field-name')) input.closest('.field-row')!.setAttribute('data-field', input.value)
    })
    this.addRow({ name: '', value: '' })
  }

  /** Fills the form with an item, to change it. */
  edit(item: Item) {
    this.feedback.clear()
    field(this.form, 'id').value = item.id
    this.rows.replaceChildren()
    const rows = itemToRows(item as { [key: string]: JsonValue })
    for (const row of rows.length ? rows : [{ name: '', value: '' }]) this.addRow(row)
    this.form.scrollIntoView({ block: 'nearest' })
  }

  async remove(id: string) {
    const target = this.target()
    this.feedback.clear()
    if (!target) return
    if (!id) return this.feedback.atField('id', 'Name the item to delete.')
    const result = await this.api.remove(target.stream, target.group, id)
    if (result.ok) this.feedback.result(`Deleted ${label(target, id)}.`)
    else this.feedback.refusal(result.error)
  }

  private addRow(row: FieldRow): HTMLElement {
    const element = el(
      'div',
      { class: 'field-row', 'data-field': row.name },
      el('input', { class: 'field-name', placeholder: 'field', 'aria-label': 'field name', autocomplete: 'off', spellcheck: 'false' }),
      el('input', { class: 'field-value', placeholder: 'value', 'aria-label': 'field value', autocomplete: 'off', spellcheck: 'false' }),
      el('button', { type: 'button', class: 'remove-field', 'aria-label': 'remove this field' }, '×'),
      el('p', { class: 'field-error' }),
    )
    const [name, value] = element.querySelectorAll('input')
    name!.value = row.name
    value!.value = row.value
    this.rows.append(element)
    return element
  }

  protected async submit(target: Target) {
    const id = field(this.form, 'id').value
    const elements = [...this.rows.querySelectorAll<HTMLElement>('.field-row')]
    const rows = elements.map((row) => ({ name: row.querySelector<HTMLInputElement>('.field-name')!.value, value: row.querySelector<HTMLInputElement>('.field-value')!.value }))
    const atRow = (index: number, messages: string[]) => (elements[index]!.querySelector('.field-error')!.textContent = messages.join(' · '))
    const { data, errors } = rowsToData(rows)
    for (const [index, message] of errors) atRow(index, [message])
    if (!id) this.feedback.atField('id', 'An item needs an id.')
    if (!id || errors.size) return
    const result = await this.api.put(target.stream, target.group, id, data)
    if (result.ok) return this.feedback.result(`${result.status === 201 ? 'Created' : 'Updated'} ${label(target, id)}.`)
    this.feedback.refusal(result.error, (violations) => {
      const { byRow, general } = placeViolations(violations, rows)
      for (const [index, messages] of byRow) atRow(index, messages)
      return general
    })
  }
}

/** Send a custom event to the chosen group, or to one of its items. */
export class EventForm extends GroupForm {
  protected async submit(target: Target) {
    const type = field(this.form, 'type').value
    const id = field(this.form, 'id').value || undefined
    const text = field<HTMLTextAreaElement>(this.form, 'data').value.trim()
    let data: JsonValue | undefined
    try {
      data = text === '' ? undefined : (JSON.parse(text) as JsonValue)
    } catch (error) {
      this.feedback.atField('data', `Not JSON: ${(error as Error).message}`)
    }
    if (!type) this.feedback.atField('type', 'An event needs a type.')
    if (!type || (text !== '' && data === undefined)) return
    const result = await this.api.send(target.stream, target.group, id, type, data)
    if (result.ok) this.feedback.result(`Sent "${type}" to ${id ? label(target, id) : `${target.stream}/${target.group}`}.`)
    else this.feedback.refusal(result.error)
  }
}
