import { GatewayError } from '../model/errors.ts'
import type { Address } from '../model/records.ts'
import type { Limits } from './limits.ts'

/** Keys that turn into prototype pollution in whoever merges a payload into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

const invalid = (message: string) => new GatewayError('INVALID_ARGUMENT', message)

/**
 * A stream name, group id or item id: a non-empty, well-formed string (protobuf and every JSON codec carry it
 * unchanged) without NUL (the core's group keys use it as a separator), within `maxNameBytes`.
 */
export function checkName(field: string, value: unknown, limits: Limits): asserts value is string {
  if (typeof value !== 'string' || value === '') throw invalid(`${field} must be a non-empty string`)
  // A UTF-8 character takes at most 4 bytes, so short strings need no byte count.
  if (value.length * 3 > limits.maxNameBytes && Buffer.byteLength(value) > limits.maxNameBytes) {
    throw invalid(`${field} is longer than ${limits.maxNameBytes} bytes`)
  }
  if (!value.isWellFormed()) throw invalid(`${field} is not well-formed Unicode (a lone surrogate)`)
  if (value.includes('\u0000')) throw invalid(`${field} contains a NUL character`)
}

/** The address of a call; `needsId` for calls about one item. */
export function checkAddress(address: Address, needsId: boolean, limits: Limits) {
  checkName('streamName', address.streamName, limits)
  checkName('groupId', address.groupId, limits)
  if (needsId || address.id !== undefined) checkName('id', address.id, limits)
}

const pathOf = (path: ReadonlyArray<string | number>) => (path.length === 0 ? '(root)' : path.join('.'))

/**
 * An item or event payload as it arrived, before anything else touches it: nesting within `maxDepth`, no key
 * that pollutes prototypes, every string and key well-formed. Only JSON values pass (no functions, no
 * undefined inside arrays, no non-finite numbers), so what one transport accepts every other can deliver.
 * Recursion stops at the depth limit, so no input can exhaust the stack.
 */
export function checkPayload(what: string, value: unknown, limits: Limits) {
  const path: Array<string | number> = []
  const walk = (node: unknown, depth: number): void => {
    switch (typeof node) {
      case 'string':
        if (!node.isWellFormed()) throw invalid(`${what} ${pathOf(path)}: not well-formed Unicode (a lone surrogate)`)
        return
      case 'number':
        if (!Number.isFinite(node)) throw invalid(`${what} ${pathOf(path)}: not a finite number`)
        return
      case 'boolean':
        return
      case 'object':
        break
      default:
        throw invalid(`${what} ${pathOf(path)}: not a JSON value`)
    }
    if (node === null) return
    if (depth > limits.maxDepth) throw invalid(`${what} is nested deeper than ${limits.maxDepth} levels`)
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(i)
        walk(node[i], depth + 1)
        path.pop()
      }
      return
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) throw invalid(`${what} ${pathOf([...path, key])}: the key "${key}" is not allowed`)
      if (!key.isWellFormed()) throw invalid(`${what} ${pathOf(path)}: a key is not well-formed Unicode (a lone surrogate)`)
      const child = (node as Record<string, unknown>)[key]
      // JSON.stringify drops undefined members; so does every wire.
      if (child === undefined) continue
      path.push(key)
      walk(child, depth + 1)
      path.pop()
    }
  }
  walk(value, 1)
}
