// The put form edits an item as rows of (field, value). These functions turn an item into rows and back,
// and place the gateway's schema violations next to the rows they name. No DOM here: the tests run them
// in Node.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export interface FieldRow {
  name: string
  value: string
}

export interface Violation {
  path: string
  message: string
}

const parses = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** A value as the form shows it: text that is not JSON stays as typed; everything else is JSON. */
export const formatFieldValue = (value: JsonValue): string => (typeof value === 'string' && !parses(value) ? value : JSON.stringify(value))

/** The value a row holds: its JSON when it is JSON, else the text itself. */
export function parseFieldValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return text
  }
}

/** An item's fields as rows, its `id` left out (the form has its own field for it). */
export const itemToRows = (item: { [key: string]: JsonValue }): FieldRow[] =>
  Object.entries(item)
    .filter(([name]) => name !== 'id')
    .map(([name, value]) => ({ name, value: formatFieldValue(value) }))

/** The item data of the rows; rows without a name are skipped, and a name used twice is an error of its row. */
export function rowsToData(rows: FieldRow[]): { data: { [key: string]: JsonValue }; errors: Map<number, string> } {
  const data: { [key: string]: JsonValue } = {}
  const errors = new Map<number, string>()
  const seen = new Set<string>()
  rows.forEach((row, index) => {
    if (row.name === '') return
    if (seen.has(row.name)) return errors.set(index, `"${row.name}" is already a field above`)
    seen.add(row.name)
    // defineProperty: a field named __proto__ is a field, as the gateway (which refuses it) will say.
    Object.defineProperty(data, row.name, { value: parseFieldValue(row.value), enumerable: true, writable: true, configurable: true })
  })
  return { data, errors }
}

/**
 * Which row each violation belongs to: the row whose field the path starts with (`address.city` belongs
 * to `address`; the longest name wins, so a field may contain dots). Violations of the whole item, or of
 * a field that has no row (a required field left out), are `general`; they keep their path in the message.
 */
export function placeViolations(violations: Violation[], rows: FieldRow[]): { byRow: Map<number, string[]>; general: string[] } {
  const byRow = new Map<number, string[]>()
  const general: string[] = []
  for (const { path, message } of violations) {
    let index = -1
    rows.forEach((row, i) => {
      const owns = row.name !== '' && (path === row.name || path.startsWith(`${row.name}.`))
      if (owns && (index < 0 || row.name.length > rows[index]!.name.length)) index = i
    })
    if (index < 0) {
      general.push(path ? `${path}: ${message}` : message)
      continue
    }
    const text = path === rows[index]!.name ? message : `${path}: ${message}`
    byRow.set(index, [...(byRow.get(index) ?? []), text])
  }
  return { byRow, general }
}
