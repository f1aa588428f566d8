import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Received, type Subscriber, subscribeEverywhere } from '../helpers/every-subscriber.ts'
import { until } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { anyName, anyObject, depthOf, isWellFormed, MAX_DEPTH, nameIsValid, payloadIsValid, sameJson } from '../helpers/hostile-inputs.ts'
import { assertPythonGrpc } from '../helpers/python-client.ts'
import { type Verdict, everyWriter, type Writer } from '../helpers/writers.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * The contract's promise that makes limits matter: one limit per kind of input, in the core, so whatever
 * one transport accepts every other can deliver, and every transport refuses the same things the same way.
 * Properties over generated names and payloads (deep, hostile keys, lone surrogates), against the gateway
 * process, with a subscriber on every wire there is.
 */

let gateway: GatewayProcess
let writers: Writer[]
beforeAll(() => assertPythonGrpc())
watchGateway({}, (w) => {
  gateway = w.gateway
  writers = everyWriter(gateway.url)
})
afterAll(() => {
  for (const writer of writers ?? []) writer.close()
})

const hasLoneSurrogate = (value: unknown): boolean => !isWellFormed(JSON.stringify(value).replace(/\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g, (m) => JSON.parse(`"${m}"`)))

/** Whether the writer can say this input at all (binary protobuf has no lone surrogates, REST no empty names). */
const carries = (writer: Writer, names: Array<string | undefined>, payload: unknown) =>
  (writer.carriesLoneSurrogates || (!names.some((n) => n !== undefined && !isWellFormed(n)) && !hasLoneSurrogate(payload))) &&
  (writer.carriesEmptyNames || !names.some((n) => n === ''))

type Write = { kind: 'set'; id: string; data: Record<string, unknown> } | { kind: 'send'; id: string | undefined; data: unknown }

/** An event's item id, or none for a group event (Connect and gRPC say "none" with an empty string). */
const eventId = fc.option(anyName.filter((n) => n !== ''), { nil: undefined })
const eventData = fc.oneof(anyObject, fc.jsonValue({ maxDepth: 3 }))

const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), id: anyName, data: anyObject }),
  fc.record({ kind: fc.constant('send' as const), id: eventId, data: eventData }),
)

/**
 * A binary request too deep for protobuf never reaches the core, which would have refused it too: it must
 * be deeper than the core's limit.
 */
function assertOnlyTooDeepUndecodable(verdict: Verdict, payload: unknown) {
  if (verdict === 'UNDECODABLE') expect(depthOf(payload), 'only payloads past the depth limit may be too deep for protobuf').toBeGreaterThan(MAX_DEPTH)
}

/** Every writer that could say the input: one verdict (those too deep for protobuf: refused, code unknown). */
function assertSameVerdict(verdicts: Record<string, Verdict>, payload: unknown) {
  for (const verdict of Object.values(verdicts)) assertOnlyTooDeepUndecodable(verdict, payload)
  const reached = Object.values(verdicts).filter((v) => v !== 'UNDECODABLE')
  expect(new Set(reached).size, JSON.stringify(verdicts)).toBeLessThanOrEqual(1)
  expect(reached[0] ?? 'refused', JSON.stringify(verdicts)).not.toMatch(/^UNEXPECTED|INTERNAL|^accepted$/.source === '' ? /$^/ : /^UNEXPECTED|INTERNAL/)
  if (reached.length < Object.keys(verdicts).length) expect(reached, JSON.stringify(verdicts)).not.toContain('accepted')
}

/** The contract's verdict on a write to a valid stream and group. */
function expected(w: Write): Verdict {
  if (w.kind === 'set') {
    const idMatches = w.data.id === undefined || w.data.id === w.id
    return nameIsValid(w.id) && payloadIsValid(w.data) && idMatches ? 'accepted' : 'INVALID_ARGUMENT'
  }
  return (w.id === undefined || nameIsValid(w.id)) && payloadIsValid(w.data) ? 'accepted' : 'INVALID_ARGUMENT'
}

const changes = (subscriber: Subscriber) => subscriber.received.filter((r) => r.kind !== 'sync')

describe('whatever a transport accepts, every other delivers intact', () => {
  let subscribers: Subscriber[]
  const group = 'everywhere'
  beforeAll(async () => {
    subscribers = await subscribeEverywhere(gateway.url, 'chat', group)
  })
  afterAll(async () => {
    for (const subscriber of subscribers ?? []) await subscriber.close()
  })

  it('delivers each accepted write, exactly as written, to WebSocket, SSE, Connect (binary, JSON), grpc-js and grpcio subscribers; refuses the rest', async () => {
    let delivered = 0
    const deliveredAt = () => subscribers.map((s) => changes(s).length)
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 3 }).chain((w) => write.filter((c) => carries(writers[w]!, [c.id], c.data)).map((c) => [w, c] as const)),
        async ([w, command]) => {
          const writer = writers[w]!
          const verdict =
            command.kind === 'set'
              ? await writer.set('chat', group, command.id, command.data)
              : await writer.send('chat', group, command.id, 'fuzz', command.data)
          // Counted as the gateway answered, so that a later check still holds when this one fails.
          if (verdict === 'accepted') delivered += 1
          assertOnlyTooDeepUndecodable(verdict, command.data)
          const refused = verdict === 'UNDECODABLE' ? 'INVALID_ARGUMENT' : verdict
          expect({ writer: writer.name, verdict: refused }).toEqual({ writer: writer.name, verdict: expected(command) })
          if (verdict !== 'accepted') return
          await until(() => deliveredAt().every((n) => n >= delivered) || subscribers.find((s) => s.ended()), `write ${delivered} on every wire`)
          for (const subscriber of subscribers) {
            expect({ subscriber: subscriber.name, ended: subscriber.ended() }).toEqual({ subscriber: subscriber.name, ended: undefined })
            const got = changes(subscriber)
            expect({ subscriber: subscriber.name, count: got.length }).toEqual({ subscriber: subscriber.name, count: delivered })
            const last: Received = got.at(-1)!
            if (command.kind === 'set') {
              expect({ subscriber: subscriber.name, kind: last.kind, id: last.id }).toEqual({ subscriber: subscriber.name, kind: expect.stringMatching(/^(create|update)$/), id: command.id })
              expect(sameJson(last.item, { ...command.data, id: command.id }), `${subscriber.name} got ${JSON.stringify(last.item)}`).toBe(true)
            } else {
              expect({ subscriber: subscriber.name, kind: last.kind, id: last.id, type: last.event?.type }).toEqual({ subscriber: subscriber.name, kind: 'event', id: command.id, type: 'fuzz' })
              expect(sameJson(last.event!.data, command.data), `${subscriber.name} got ${JSON.stringify(last.event!.data)}`).toBe(true)
            }
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})

describe('REST and Connect accept and refuse the same inputs', () => {
  const streamName = fc.oneof(fc.constantFrom('chat', 'todo', 'python', 'legacy', 'private', 'nope'), anyName)

  it('gives the same verdict on every writer for Set', async () => {
    await fc.assert(
      fc.asyncProperty(streamName, anyName, anyName, anyObject, async (s, g, id, data) => {
        const verdicts: Record<string, Verdict> = {}
        for (const writer of writers.filter((w) => carries(w, [s, g, id], data))) verdicts[writer.name] = await writer.set(s, g, id, data)
        assertSameVerdict(verdicts, data)
      }),
      { numRuns: 150 },
    )
  })

  it('gives the same verdict on every writer for a custom event', async () => {
    await fc.assert(
      fc.asyncProperty(streamName, anyName, eventId, eventData, async (s, g, id, data) => {
        const verdicts: Record<string, Verdict> = {}
        for (const writer of writers.filter((w) => carries(w, [s, g, id], data))) verdicts[writer.name] = await writer.send(s, g, id, 'fuzz', data)
        assertSameVerdict(verdicts, data)
      }),
      { numRuns: 150 },
    )
  })
})
