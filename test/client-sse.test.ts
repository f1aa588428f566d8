// @streamgate/client over Server-Sent Events (one multiplexed fetch stream) against a real gateway. The
// gateway ends every stream after ~200 ms (--sse-max-lifetime), so every scenario also runs across many
// server-side ends with resume; the resume scenario adds socket cuts on top.
import { afterEach, describe, expect, it } from 'vitest'
import { Stream } from '../clients/typescript/src/index.ts'
import type { Frame, Item } from '../clients/typescript/src/types.ts'
import { clientScenarios, serverCuts, unique } from './helpers/client-scenarios.ts'
import { rest, startGateway, until } from './helpers/gateway.ts'

clientScenarios({ name: 'SSE', options: () => ({ transport: 'sse' }), gateway: { sse: { maxLifetimeMs: 200 } } })
clientScenarios({
  name: 'SSE (token in ?authToken=)',
  options: () => ({ transport: 'sse', sse: { authVia: 'query' } }),
  only: ['bursts', 'resume', 'token', 'refusal'],
})

describe('@streamgate/client over SSE: one multiplexed stream', () => {
  const cleanup: Array<() => unknown> = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  it('resumes every group of the stream with one composite token, and re-syncs a group it follows twice', async () => {
    const gw = await startGateway()
    cleanup.push(() => gw.close())
    const cuts = serverCuts(gw)
    const chat = gw.server.streams.chat!
    const [a, b, c] = [unique('multi-a'), unique('multi-b'), unique('multi-c')]
    const frames: Frame[] = []
    const stream = new Stream(gw.url, { transport: 'sse', backoff: { initialMs: 20, maxMs: 100 }, onFrame: (f) => frames.push(f) })
    cleanup.push(() => stream.close())
    const groupA = stream.subscribeGroup<Item>('chat', a)
    const itemB = stream.subscribeItem<Item>('chat', b, 'x')
    // Group c is followed twice (the group and one item): it cannot resume safely, so it re-syncs.
    const groupC = stream.subscribeGroup<Item>('chat', c)
    const itemC = stream.subscribeItem<Item>('chat', c, 'y')
    await until(() => groupA.synced && itemB.synced && groupC.synced && itemC.synced, 'four syncs on one stream')
    const requests = () => stream.attempts
    expect(requests()).toBe(1)

    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        await chat.set(a, `k${i % 3}`, { round, i })
        await chat.set(b, i % 2 ? 'x' : 'other', { round, i })
        await chat.set(c, i % 2 ? 'y' : 'z', { round, i })
      }
      cuts.cut()
      await chat.set(a, 'while-away', { round })
      await chat.set(b, 'x', { round, away: true })
      await chat.set(c, 'y', { round, away: true })
      await until(() => cuts.open > 0 && stream.status === 'open', 'reopened')
    }
    const get = async (path: string) => (await rest(gw.url, 'GET', path)).body
    const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y)
    const [storedA, storedX, storedC, storedY] = await Promise.all([get(`/streams/chat/${a}`), get(`/streams/chat/${b}/x`), get(`/streams/chat/${c}`), get(`/streams/chat/${c}/y`)])
    await until(
      () => same(groupA.getState(), storedA) && same(itemB.getState(), storedX) && same(groupC.getState(), storedC) && same(itemC.getState(), storedY),
      'all four converge',
    )
    const syncsOf = (groupId: string) => frames.filter((f) => f.groupId === groupId && f.event.type === 'sync')
    // a and b resumed through every cut; c got a fresh sync each time (group and item).
    expect(syncsOf(a)).toHaveLength(1)
    expect(syncsOf(b)).toHaveLength(1)
    expect(syncsOf(c)).toHaveLength(2 * 4)
    const seqsOf = (groupId: string) => frames.filter((f) => f.groupId === groupId && f.event.type !== 'sync').map((f) => f.sequence!)
    const first = syncsOf(a)[0]!.sequence!
    expect(seqsOf(a)).toEqual(Array.from({ length: seqsOf(a).length }, (_, k) => first + 1 + k))
    expect(seqsOf(a)).toHaveLength(3 * 31)
  })
})
