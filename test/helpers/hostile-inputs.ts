import fc from 'fast-check'

/**
 * Generators of what a hostile peer sends, and the contract's verdict on each (design.md, "Hostile input"):
 * names of at most 256 UTF-8 bytes, non-empty, well-formed, without NUL; payloads nested at most 32 levels
 * (the payload itself is level 1), without `__proto__`, `constructor` or `prototype` keys, with well-formed
 * strings and keys.
 */
export const MAX_NAME_BYTES = 256
export const MAX_DEPTH = 32
export const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype']

/** No lone surrogate (String.prototype.isWellFormed, which this project's ES2023 lib does not declare). */
export const isWellFormed = (s: string) => !/\p{Surrogate}/u.test(s)

const LONE_SURROGATES = ['\ud800', '\udfff', 'a\ud83d', '\ude00b']

/** Strings a name or a key may be made of: ordinary, unicode, separators, escapes, and broken ones. */
const piece = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
  fc.constantFrom('/', '%', '%2F', '..', '.', '?', '#', '&', '=', ' ', '+', '\\', '"', '\n', '\t', '😀', 'é', '中'),
)

/** A name that may be valid or not: empty, with NUL or lone surrogates, or far past the byte limit. */
export const anyName = fc.oneof(
  { weight: 4, arbitrary: fc.array(piece, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom('\u0000', ...LONE_SURROGATES)).map(([a, b]) => a + b) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('x', 'é', '😀', '中'), fc.integer({ min: 60, max: 300 })).map(([c, n]) => c.repeat(n)) },
)

/** A name every wire can carry (well-formed, no NUL): the byte limit may still refuse it. */
export const wellFormedName = anyName.filter((name) => name !== '' && isWellFormed(name) && !name.includes('\u0000'))

export function nameIsValid(name: unknown): boolean {
  return typeof name === 'string' && name !== '' && isWellFormed(name) && !name.includes('\u0000') && Buffer.byteLength(name) <= MAX_NAME_BYTES
}

/** Wraps `leaf` in `levels` objects and arrays, alternating as `shape` says. */
export function nest(levels: number, leaf: unknown, shape: 'object' | 'array' | 'mixed' = 'mixed'): unknown {
  let value = leaf
  for (let i = 0; i < levels; i++) value = shape === 'array' || (shape === 'mixed' && i % 2 === 1) ? [value] : { k: value }
  return value
}

/** An object with one key of each hostile kind, as its own properties (JSON.parse, not assignment). */
const hostileKey = fc.oneof(
  fc.constantFrom(...FORBIDDEN_KEYS, 'toString', 'hasOwnProperty', '__defineGetter__', '', ' ', 'id', '$ref'),
  fc.constantFrom(...LONE_SURROGATES),
  fc.string({ maxLength: 8 }),
)

/** JSON objects: ordinary ones, deep ones around the depth limit, hostile keys, lone surrogates in strings. */
export const anyObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 70 }), fc.constantFrom('object', 'array', 'mixed') as fc.Arbitrary<'object' | 'array' | 'mixed'>, fc.jsonValue({ maxDepth: 0 })).map(
      ([depth, shape, leaf]) => ({ deep: nest(depth - 1, leaf, shape) }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(hostileKey, fc.jsonValue({ maxDepth: 2 }), fc.boolean()).map(([key, value, inside]) =>
      JSON.parse(inside ? `{"outer":{${JSON.stringify(key)}:${JSON.stringify(value)}}}` : `{${JSON.stringify(key)}:${JSON.stringify(value)}}`),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(...LONE_SURROGATES).map((s) => ({ text: s })) },
)

/** Objects whose every string every wire carries unchanged (protobuf's binary codec replaces lone surrogates). */
export const wellFormedObject = anyObject.filter((value) => allWellFormed(value))

function allWellFormed(value: unknown): boolean {
  if (typeof value === 'string') return isWellFormed(value)
  if (Array.isArray(value)) return value.every(allWellFormed)
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => isWellFormed(k) && allWellFormed(v))
  return true
}

/** The nesting of a JSON value: 0 for a scalar, 1 for `{}` or `[]`, and so on. */
export function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + children.reduce<number>((max, child) => Math.max(max, depthOf(child)), 0)
}

function hasForbiddenKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(value)) return value.some(hasForbiddenKey)
  return Object.entries(value).some(([k, v]) => FORBIDDEN_KEYS.includes(k) || hasForbiddenKey(v))
}

/** Whether the contract accepts this item or event payload. */
export function payloadIsValid(value: unknown): boolean {
  return depthOf(value) <= MAX_DEPTH && !hasForbiddenKey(value) && allWellFormed(value)
}

/** Same JSON, whatever the key order: what a subscriber must receive for what was written. */
export const sameJson = (a: unknown, b: unknown) => canonical(a) === canonical(b)
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}
