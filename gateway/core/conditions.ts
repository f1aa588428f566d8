import { createHash } from 'node:crypto'
import { GatewayError } from '../model/errors.ts'
import type { Idempotency } from '../store/store.ts'
import { checkName } from './input-checks.ts'
import type { Limits } from './limits.ts'

/** What a caller may require of a write (design.md, "Conditional writes, idempotency, expiry"). */
export interface WriteConditions {
  /** Write only when the item is at this version (the seq of the log entry that last changed it). */
  ifVersion?: number
  /** A retry with this key and the same request gets the first answer and writes nothing. */
  idempotencyKey?: string
}

export interface SetConditions extends WriteConditions {
  /** Create only: refuse when the item exists. */
  ifAbsent?: boolean
  /** Delete the item (through the log) this many seconds after the write. */
  ttlSeconds?: number
}

export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400
/** Ten years: a ttl beyond it is a mistake, and it keeps expiry times far inside a double's whole numbers. */
const MAX_TTL_SECONDS = 10 * 365 * 86_400

const invalid = (message: string) => new GatewayError('INVALID_ARGUMENT', message)

/** Refuses malformed conditions before anything else is looked at. */
export function checkConditions(conditions: SetConditions, limits: Limits) {
  const { ifVersion, ttlSeconds, idempotencyKey, ifAbsent } = conditions
  if (ifVersion !== undefined && !(Number.isSafeInteger(ifVersion) && ifVersion >= 0)) throw invalid('the version to match must be a whole number')
  if (ifAbsent && ifVersion !== undefined) throw invalid('a write is either create-only or for one version, not both')
  if (ttlSeconds !== undefined && !(Number.isSafeInteger(ttlSeconds) && ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) {
    throw invalid(`ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`)
  }
  if (idempotencyKey !== undefined) checkName('Idempotency-Key', idempotencyKey, limits)
}

/**
 * The store's idempotency entry for a request: its fingerprint stands for everything that makes it this
 * request (operation, address, body, conditions), so the same key with anything else is told apart.
 */
export function idempotencyOf(key: string | undefined, ttlSeconds: number, request: unknown[]): Idempotency | undefined {
  if (key === undefined) return undefined
  const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('base64url')
  return { key, fingerprint, ttlMs: ttlSeconds * 1000 }
}
