import { createConnectTransport } from '@connectrpc/connect-node'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { streamClient } from '../helpers/connect-clients.ts'
import { until } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { anyName, nameIsValid } from '../helpers/hostile-inputs.ts'
import { seqOf, sseRead } from '../helpers/sse.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * Server-Sent Events fed what a hostile client puts in the URL and headers: any `/events` subscription
 * list, any query string, any Last-Event-ID. The answer is the contract's: a stream that starts with the
 * right sync or replay, or a JSON refusal with the status its first problem calls for; never a 500.
 */

const MAX_SUBSCRIPTIONS = 8
const KNOWN = ['chat', 'todo']
let gateway: GatewayProcess
// URLs of many long names, percent-encoded twice, reach 200 kB: a header limit above that.
watchGateway({ args: ['--max-subscriptions', String(MAX_SUBSCRIPTIONS), '--max-header-bytes', String(1024 * 1024)] }, (w) => (gateway = w.gateway))
afterEach(() => gateway.released(['sse']))

const sse = { accept: 'text/event-stream' }

const validName = anyName.filter(nameIsValid)
/** One `subscribe` value: mostly a valid `<stream>/<group>[/<id>]`, else any names, or a malformed value. */
const subscription = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.constantFrom(...KNOWN), validName, fc.option(validName, { nil: undefined })).map(([s, g, id]) => ({ s, g, id })) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...KNOWN, 'nope'), anyName), anyName, fc.option(anyName, { nil: undefined })).map(([s, g, id]) => ({ s, g, id })),
  },
  { weight: 1, arbitrary: fc.constantFrom('onlyone', 'a//b', '/a/b', 'a/b/', 'a/b/c/d', 'a/%zz', '%E0%A4%A', '').map((raw) => ({ raw })) },
)
/** Mostly a few subscriptions; sometimes none, or more than a connection may hold. */
const subscriptionList = fc.oneof({ weight: 6, arbitrary: fc.array(subscription, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.array(subscription, { maxLength: MAX_SUBSCRIPTIONS + 2 }) })
type Subscription = { s: string; g: string; id?: string } | { raw: string }

/** Segments as the TypeScript client writes them; a lone surrogate has no percent-encoding: a raw one. */
const segment = (name: string) => {
  try {
    return encodeURIComponent(name)
  } catch {
    return '%ED%A0%80'
  }
}
const valueOf = (sub: Subscription) => ('raw' in sub ? sub.raw : [sub.s, sub.g, ...(sub.id === undefined ? [] : [sub.id])].map(segment).join('/'))

const extra = fc.array(
  fc.tuple(fc.constantFrom('lastEventId', 'authToken', 'x', '', 'subscribe[]', '__proto__'), fc.string({ unit: 'grapheme-ascii', maxLength: 20 })),
  { maxLength: 3 },
)

/** The status the contract gives a multiplexed request, from its first problem (fastify's order, then the core's). */
function expectedStatus(subs: Subscription[], extras: Array<[string, string]>): number {
  if (extras.filter(([k]) => k === 'lastEventId').length > 1) return 400
  if (extras.filter(([k]) => k === 'authToken').length > 1) return 401
  if (subs.length === 0) return 400
  if (subs.length > MAX_SUBSCRIPTIONS) return 429
  const decoded: Array<{ s: string; g: string; id?: string }> = []
  for (const sub of subs) {
    if ('raw' in sub) return 400
    const segments = valueOf(sub).split('/')
    if (segments.length < 2 || segments.length > 3 || segments.some((x) => x === '')) return 400
    if (valueOf(sub).includes('%ED%A0%80')) return 400
    decoded.push(sub)
  }
  if (decoded.some((a) => ![a.s, a.g, ...(a.id === undefined ? [] : [a.id])].every(nameIsValid))) return 400
  if (decoded.some((a) => !KNOWN.includes(a.s))) return 404
  return 200
}

describe('SSE', () => {
  it('answers any /events subscription list and query string as the contract says', async () => {
    await fc.assert(
      fc.asyncProperty(subscriptionList, extra, async (subs, extras) => {
        const query = [
          ...subs.map((sub) => `subscribe=${encodeURIComponent(valueOf(sub))}`),
          ...extras.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
        ].join('&')
        const status = expectedStatus(subs, extras)
        // Read as a stream whatever the status, so that a stream where a refusal was expected fails the test
        // instead of hanging it.
        const stream = await sseRead(`${gateway.url}/events?${query}`)
        try {
          const body = stream.response.ok ? undefined : JSON.parse(await stream.response.text())
          const refusal = { code: expect.any(String), message: expect.any(String), details: [] }
          expect({ status: stream.response.status, body }).toEqual(status === 200 ? { status, body: undefined } : { status, body: refusal })
          if (status !== 200) return
          const distinct = new Set(subs.map((sub) => JSON.stringify(sub)))
          await until(() => stream.messages.filter((m) => m.frame.event.type === 'sync').length >= distinct.size, `a sync per subscription: ${JSON.stringify(stream.messages.map((m) => m.frame))}`, 3000)
        } finally {
          stream.close()
        }
      }),
      { numRuns: 200 },
    )
  }, 120_000)

  it('resumes from any Last-Event-ID (header or query): the missed events when it is usable, else a reset sync', async () => {
    const client = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    const at = { streamName: 'chat', groupId: 'resume-fuzz' }
    const write = async () => seqOf((await client.set({ ...at, id: 'x', data: { at: Date.now() } })).resumeToken)
    const epoch = (await client.set({ ...at, id: 'x', data: {} })).resumeToken.split('.')[0]!
    for (let i = 0; i < 4; i++) await write()
    const printable = fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s) && s.trim() === s)
    const token = fc.oneof(
      fc.nat({ max: 12 }).map((back) => ({ back })),
      fc.tuple(fc.constantFrom(epoch, 'other-epoch', ''), fc.oneof(fc.nat(), fc.constantFrom('-1', '1e3', '00', '999999999999999999', '1.2')), fc.boolean()).map(([e, n, twice]) => ({ text: `${e}.${n}${twice ? `.${n}` : ''}` })),
      printable.map((text) => ({ text })),
    )
    await fc.assert(
      fc.asyncProperty(token, fc.boolean(), async (t, inQuery) => {
        const seq = await write()
        const text = 'back' in t ? `${epoch}.${Math.max(0, seq - t.back)}` : t.text
        const usable = new RegExp(`^${epoch}\\.(\\d{1,15})$`).exec(text)
        const from = usable ? Number(usable[1]) : undefined
        const url = `${gateway.url}/streams/chat/resume-fuzz${inQuery ? `?lastEventId=${encodeURIComponent(text)}` : ''}`
        const stream = await sseRead(url, inQuery ? {} : { 'last-event-id': text })
        try {
          expect(stream.response.status).toBe(200)
          const last = await write()
          await until(() => stream.messages.some((m) => seqOf(m.id) === last), 'the write after connecting')
          const before = stream.messages.slice(0, -1)
          if (from !== undefined && from <= seq) {
            // Usable: exactly the records after it, then live; no sync.
            expect(before.map((m) => seqOf(m.id))).toEqual(Array.from({ length: seq - from }, (_, i) => from + 1 + i))
          } else {
            // Unusable (or empty: no token at all): one sync, a reset when a token was given.
            expect(before.map((m) => m.frame.event)).toEqual([{ type: 'sync', data: expect.any(Array), ...(text === '' ? {} : { reset: true }) }])
          }
        } finally {
          stream.close()
        }
      }),
      { numRuns: 150 },
    )
  })
})
