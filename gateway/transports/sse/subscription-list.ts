import { GatewayError } from '../../model/errors.ts'
import type { Address } from '../../model/records.ts'

/**
 * The subscriptions of a multiplexed SSE request: each `subscribe` query parameter is
 * `<streamName>/<groupId>` or `<streamName>/<groupId>/<id>`, each segment percent-encoded
 * (`encodeURIComponent`), so names may contain `/`.
 */
export function parseSubscriptionList(values: string[], max: number): Address[] {
  if (values.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'name at least one subscription: ?subscribe=<stream>/<group>[/<id>]')
  if (values.length > max) throw new GatewayError('RESOURCE_EXHAUSTED', `at most ${max} subscriptions per connection`)
  const seen = new Set<string>()
  const addresses: Address[] = []
  for (const value of values) {
    const segments = value.split('/')
    if (segments.length < 2 || segments.length > 3 || segments.some((s) => s === '')) {
      throw new GatewayError('INVALID_ARGUMENT', `"${value}" is not <stream>/<group>[/<id>]`)
    }
    let decoded: string[]
    try {
      decoded = segments.map(decodeURIComponent)
    } catch {
      throw new GatewayError('INVALID_ARGUMENT', `"${value}" is not percent-encoded correctly`)
    }
    const [streamName, groupId, id] = decoded as [string, string, string?]
    const key = decoded.join('\u0000')
    if (seen.has(key)) continue
    seen.add(key)
    addresses.push(id === undefined ? { streamName, groupId } : { streamName, groupId, id })
  }
  return addresses
}
