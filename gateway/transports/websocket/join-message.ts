import type { Address } from '../../model/records.ts'

export interface JoinMessage {
  type: 'join' | 'leave'
  subscriptionId: string
  address: Address
  /** streamgate's clients send the last `resumeToken` they processed; Motia's send none. */
  resumeToken?: string
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''

/**
 * Parses a client frame (spec section 3): `{type: 'join'|'leave', data: {streamName, groupId, id?,
 * subscriptionId}}`. A truthy `id` makes an item subscription. Returns a reason string for anything else.
 */
export function parseClientFrame(text: string): JoinMessage | { invalid: string } {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return { invalid: 'malformed_json' }
  }
  if (typeof message !== 'object' || message === null) return { invalid: 'wrong_shape' }
  const { type, data } = message as { type?: unknown; data?: Record<string, unknown> }
  if (type !== 'join' && type !== 'leave') return { invalid: 'unknown_type' }
  if (typeof data !== 'object' || data === null) return { invalid: 'wrong_shape' }
  const { streamName, groupId, id, subscriptionId, resumeToken } = data
  if (!nonEmpty(subscriptionId) || !nonEmpty(streamName) || !nonEmpty(groupId)) return { invalid: 'wrong_shape' }
  if (id !== undefined && id !== null && id !== '' && typeof id !== 'string') return { invalid: 'wrong_shape' }
  if (resumeToken !== undefined && typeof resumeToken !== 'string') return { invalid: 'wrong_shape' }
  const address = id ? { streamName, groupId, id } : { streamName, groupId }
  return resumeToken === undefined ? { type, subscriptionId, address } : { type, subscriptionId, address, resumeToken }
}
