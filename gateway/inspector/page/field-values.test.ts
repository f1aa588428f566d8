import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type FieldRow, formatFieldValue, itemToRows, type JsonValue, parseFieldValue, placeViolations, rowsToData } from './field-values.ts'

const json = (value: unknown) => JSON.stringify(value)
const fieldName = fc.string({ minLength: 1, maxLength: 8 })

describe('the put form: fields as rows', () => {
  it('shows every JSON value so that reading it back gives the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(json(parseFieldValue(formatFieldValue(value as JsonValue)))).toBe(json(value))
      }),
    )
  })

  it('shows text that is not JSON as typed, and reads any typed text as its JSON or as itself', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const value = parseFieldValue(text)
        let isJson = true
        try {
          JSON.parse(text)
        } catch {
          isJson = false
        }
        expect(value).toEqual(isJson ? JSON.parse(text) : text)
        if (!isJson) expect(formatFieldValue(text)).toBe(text)
      }),
    )
  })

  it('turns an item into rows and back into the same data, without its id', () => {
    fc.assert(
      fc.property(fc.dictionary(fieldName, fc.jsonValue()), fc.string(), (fields, id) => {
        const item = { ...fields, id } as { [key: string]: JsonValue }
        const { data, errors } = rowsToData(itemToRows(item))
        expect(errors.size).toBe(0)
        const { id: _id, ...expected } = item
        // By key: the default sort would turn each entry into text, and a value may be `{toString: null}`.
        const byKey = (value: object) => Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        expect(json(byKey(data))).toBe(json(byKey(expected)))
      }),
    )
  })

  it('skips unnamed rows and reports a name used twice at the later row, keeping the first', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ name: fc.oneof(fc.constant(''), fc.constantFrom('a', 'b', '__proto__')), value: fc.string() })), (rows) => {
        const { data, errors } = rowsToData(rows)
        const firstIndex = new Map<string, number>()
        rows.forEach((row, i) => {
          if (row.name !== '' && !firstIndex.has(row.name)) firstIndex.set(row.name, i)
        })
        expect([...errors.keys()].sort()).toEqual(rows.flatMap((row, i) => (row.name !== '' && firstIndex.get(row.name) !== i ? [i] : [])))
        expect(Object.keys(data).sort()).toEqual([...firstIndex.keys()].sort())
        for (const [name, i] of firstIndex) expect(json(data[name])).toBe(json(parseFieldValue(rows[i]!.value)))
        expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
      }),
    )
  })
})

describe('the put form: schema violations next to their fields', () => {
  const rowsArb = fc.uniqueArray(fieldName, { maxLength: 6 }).map((names): FieldRow[] => names.map((name) => ({ name, value: '' })))
  const pathArb = (rows: FieldRow[]) =>
    fc.oneof(
      fc.constant(''),
      fieldName,
      ...(rows.length ? [fc.tuple(fc.constantFrom(...rows.map((r) => r.name)), fc.array(fieldName, { maxLength: 2 })).map(([n, rest]) => [n, ...rest].join('.'))] : []),
    )

  it('puts each violation at the row whose field its path starts with (the longest), or in the general list', () => {
    fc.assert(
      fc.property(
        rowsArb.chain((rows) => fc.tuple(fc.constant(rows), fc.array(fc.record({ path: pathArb(rows), message: fc.string({ minLength: 1 }) }), { maxLength: 6 }))),
        ([rows, violations]) => {
          const { byRow, general } = placeViolations(violations, rows)
          const placed = [...byRow.values()].flat().length + general.length
          expect(placed).toBe(violations.length)
          for (const { path, message } of violations) {
            const owners = rows.map((r, i) => [r.name, i] as const).filter(([name]) => path === name || path.startsWith(`${name}.`))
            if (owners.length === 0) {
              expect(general).toContain(path ? `${path}: ${message}` : message)
              continue
            }
            const [name, index] = owners.sort((a, b) => b[0].length - a[0].length)[0]!
            expect(byRow.get(index)).toContain(path === name ? message : `${path}: ${message}`)
          }
        },
      ),
    )
  })
})
