import type { FastifyRequest } from 'fastify'
import type { SetConditions, WriteConditions } from '../../core/conditions.ts'
import { GatewayError } from '../../model/errors.ts'

/** An item's version as REST shows it: a strong entity tag. */
export const etag = (version: number) => `"${version}"`

const invalid = (message: string) => new GatewayError('INVALID_ARGUMENT', message)

const single = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name]
  if (Array.isArray(value)) throw invalid(`send one ${name} header`)
  return value
}

/**
 * `If-Match: "<version>"`: one strong tag, as ETag gives it (a list or `*` has no version to compare). Up to
 * 16 digits, so the core decides, as for Connect's if_version, which versions are whole numbers it can hold.
 */
function ifMatch(request: FastifyRequest): number | undefined {
  const value = single(request, 'if-match')?.trim()
  if (value === undefined) return undefined
  const match = /^"(\d{1,16})"$/.exec(value)
  if (!match) throw invalid('If-Match takes one entity tag as ETag gives it, such as "12"')
  return Number(match[1])
}

export const idempotencyKey = (request: FastifyRequest) => single(request, 'idempotency-key')

/** What an item write's headers say: If-Match and Idempotency-Key. */
export function writeConditions(request: FastifyRequest): WriteConditions {
  return { ifVersion: ifMatch(request), idempotencyKey: idempotencyKey(request) }
}

/** A PUT's conditions: also `If-None-Match: *` (create only) and `?ttl=SECONDS`. */
export function setConditions(request: FastifyRequest<{ Querystring: { ttl?: string } }>): SetConditions {
  const noneMatch = single(request, 'if-none-match')?.trim()
  if (noneMatch !== undefined && noneMatch !== '*') throw invalid('If-None-Match on a PUT takes only "*" (create only)')
  const { ttl } = request.query
  if (ttl !== undefined && !/^\d{1,10}$/.test(ttl)) throw invalid('ttl must be a whole number of seconds')
  return { ...writeConditions(request), ifAbsent: noneMatch === '*' || undefined, ttlSeconds: ttl === undefined ? undefined : Number(ttl) }
}
