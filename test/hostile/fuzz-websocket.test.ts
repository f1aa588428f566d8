import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { until } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { anyName, nameIsValid } from '../helpers/hostile-inputs.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { type Frame, rawClient } from '../helpers/raw-ws.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * Motia's WebSocket protocol (spec section 3) fed whatever a hostile client sends: garbage, frames of the
 * right shape with the wrong types, any names, frames around the size limit, and join/leave sequences. The
 * connection and the process survive; valid joins get a sync, refused ones Motia's error event, anything
 * else nothing; subscriptions are what the joins and leaves say, and nothing is left when the socket closes.
 */

const MAX_FRAME = 64 * 1024
const STREAMS = ['chat', 'todo', 'nope']
let gateway: GatewayProcess
watchGateway({ args: ['--max-frame-bytes', String(MAX_FRAME), '--max-subscriptions', '20'] }, (w) => (gateway = w.gateway))
afterEach(() => gateway.released(['websocket']))

/** Anything a field of a frame may hold. */
const anyField = fc.oneof(anyName, fc.constant(undefined), fc.constant(null), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }))

/** Joins with any names (the core's verdict decides), and frames whose type, fields and nesting are generated. */
const shapedFrame = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('join'),
      data: fc.record(
        { streamName: fc.oneof(fc.constantFrom(...STREAMS), anyName), groupId: anyName, id: anyName, subscriptionId: anyName, resumeToken: fc.string({ maxLength: 40 }) },
        { requiredKeys: ['streamName', 'groupId', 'subscriptionId'] },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.oneof(fc.constantFrom('join', 'leave'), anyField),
        data: fc.oneof(
          fc.record({ streamName: fc.oneof(fc.constantFrom(...STREAMS), anyField), groupId: anyField, id: anyField, subscriptionId: anyField, resumeToken: anyField }, { requiredKeys: [] }),
          anyField,
        ),
      },
      { requiredKeys: [] },
    ),
  },
)

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''

/** What the gateway answers to one frame: a sync, an error event with a code, or nothing. */
function expectedAnswer(frame: any): { sync: true } | { error: string } | 'nothing' {
  if (typeof frame !== 'object' || frame === null || frame.type !== 'join') return 'nothing'
  const data = frame.data
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'nothing'
  const { streamName, groupId, id, subscriptionId, resumeToken } = data
  if (!nonEmpty(subscriptionId) || !nonEmpty(streamName) || !nonEmpty(groupId)) return 'nothing'
  if (id !== undefined && id !== null && id !== '' && typeof id !== 'string') return 'nothing'
  if (resumeToken !== undefined && typeof resumeToken !== 'string') return 'nothing'
  if (![streamName, groupId, ...(id ? [id] : [])].every(nameIsValid)) return { error: 'INVALID_ARGUMENT' }
  if (!STREAMS.slice(0, 2).includes(streamName)) return { error: 'NOT_FOUND' }
  return { sync: true }
}

/** Sends `text`, then a probe join; resolves with the frames that arrived before the probe's sync. */
async function answerTo(client: Awaited<ReturnType<typeof rawClient>>, send: () => void) {
  const before = client.frames.length
  send()
  const probe = `probe-${Math.random()}`
  client.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: probe, subscriptionId: probe } }))
  await until(() => client.frames.some((f) => f.groupId === probe) || client.ws.readyState !== WebSocket.OPEN, 'the probe sync')
  client.ws.send(JSON.stringify({ type: 'leave', data: { streamName: 'chat', groupId: probe, subscriptionId: probe } }))
  return client.frames.slice(before).filter((f) => f.groupId !== probe)
}

const isSync = (f: Frame) => f.event.type === 'sync'
const errorCode = (f: Frame) => (f.event.type === 'event' && f.event.event?.type === 'error' ? (f.event.event.data as { code: string }).code : undefined)

describe('WebSocket frames', () => {
  it('answers frames of any shape, types and names as the protocol says, and keeps the connection', async () => {
    await fc.assert(
      fc.asyncProperty(shapedFrame, async (frame) => {
        const client = await rawClient(gateway.wsUrl)
        try {
          const answer = await answerTo(client, () => client.ws.send(JSON.stringify(frame)))
          expect(client.ws.readyState).toBe(WebSocket.OPEN)
          const expected = expectedAnswer(frame)
          if (expected === 'nothing') expect(answer).toEqual([])
          else if ('sync' in expected) expect(answer.map(isSync)).toEqual([true])
          else expect(answer.map(errorCode)).toEqual([expected.error])
        } finally {
          client.close()
        }
      }),
      { numRuns: 200 },
    )
  })

  it('ignores garbage text and binary frames, and keeps the connection', async () => {
    const client = await rawClient(gateway.wsUrl)
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.jsonValue().map((v) => JSON.stringify(v)), fc.uint8Array({ maxLength: 512 })), async (garbage) => {
        const answer = await answerTo(client, () => client.ws.send(garbage, { binary: typeof garbage !== 'string' }))
        expect(answer.filter((f) => !isSync(f) && errorCode(f) === undefined)).toEqual([])
        expect(client.ws.readyState).toBe(WebSocket.OPEN)
      }),
      { numRuns: 300 },
    )
    client.close()
  })

  it('closes a frame past the size limit with 1009 and keeps any frame within it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.integer({ min: MAX_FRAME - 64, max: MAX_FRAME + 64 }), fc.integer({ min: 0, max: 4 * MAX_FRAME })), async (size) => {
        const client = await rawClient(gateway.wsUrl)
        client.ws.send('x'.repeat(size))
        if (size > MAX_FRAME) expect(await client.closed).toMatchObject({ code: 1009 })
        else {
          await answerTo(client, () => {})
          expect(client.ws.readyState).toBe(WebSocket.OPEN)
          client.close()
        }
      }),
      { numRuns: 60 },
    )
  })

  it('holds exactly the subscriptions its joins and leaves leave it with, and delivers to them only', async () => {
    const groups = ['g0', 'g1', 'g2', 'g3']
    const op = fc.record({ join: fc.boolean(), sub: fc.constantFrom('s0', 's1', 's2', 's3', 's4'), group: fc.constantFrom(...groups), item: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }) })
    let round = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        const prefix = `seq-${round++}-`
        const client = await rawClient(gateway.wsUrl)
        const active = new Map<string, { group: string; item?: string }>()
        for (const { join, sub, group, item } of ops) {
          const data = { streamName: 'chat', groupId: prefix + group, subscriptionId: sub, ...(item ? { id: item } : {}) }
          client.ws.send(JSON.stringify({ type: join ? 'join' : 'leave', data }))
          if (join) active.set(sub, { group, item })
          else active.delete(sub)
        }
        await answerTo(client, () => {})
        expect(await gateway.metric('streamgate_subscriptions', 'transport="websocket"')).toBe(active.size)
        const before = client.frames.length
        for (const group of groups) {
          for (const item of ['a', 'b']) await rawRequest(gateway.port, 'PUT', `/streams/chat/${prefix}${group}/${item}`, { 'content-type': 'application/json' }, '{"n":1}')
        }
        await answerTo(client, () => {})
        const got = client.frames.slice(before).filter((f) => !isSync(f) && f.groupId.startsWith(prefix)).map((f) => `${f.groupId.slice(prefix.length)}/${f.id}`)
        const wanted = groups.flatMap((g) => ['a', 'b'].filter((i) => [...active.values()].some((s) => s.group === g && (s.item === undefined || s.item === i))).map((i) => `${g}/${i}`))
        expect(got.sort()).toEqual(wanted.sort())
        client.close()
        await gateway.released(['websocket'])
      }),
      { numRuns: 40 },
    )
  })
})
