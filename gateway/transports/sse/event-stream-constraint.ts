import type { IncomingMessage } from 'node:http'

/**
 * Routes a request by whether it asks for `text/event-stream`, so SSE and REST share their paths
 * (`GET /streams/{s}/{g}` is the group as JSON, or its live stream) without either knowing of the other.
 * A route opts in with `constraints: { eventStream: 'yes' }`.
 */
export const eventStreamConstraint = {
  name: 'eventStream',
  mustMatchWhenDerived: false,
  storage() {
    const handlers = new Map<unknown, unknown>()
    return { get: (value: unknown) => (handlers.get(value) ?? null) as never, set: (value: unknown, handler: unknown) => void handlers.set(value, handler) }
  },
  deriveConstraint: (request: IncomingMessage) => ((request.headers.accept ?? '').includes('text/event-stream') ? 'yes' : 'no'),
  validate(value: unknown) {
    if (value !== 'yes') throw new Error("the eventStream constraint only takes 'yes'")
  },
}
