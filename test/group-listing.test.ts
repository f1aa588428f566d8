// GET /streams/{stream} and ListGroups: a stream's groups that hold items, paged in byte order of their ids,
// authorised like reads, the same from the memory store and from Redis.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConnectTransport } from '@connectrpc/connect-node'
import { Code, ConnectError } from '@connectrpc/connect'
import { rest, startGateway, type TestGateway } from './helpers/gateway.ts'
import { streamClient, withToken } from './helpers/connect-clients.ts'
import { TestRedis } from './helpers/redis-server.ts'

let redis: TestRedis
beforeAll(async () => {
  redis = await TestRedis.start()
})
afterAll(async () => {
  await redis?.stop()
})

let prefixes = 0
const stores: Array<[string, () => Promise<TestGateway>]> = [
  ['memory store', () => startGateway({ auth: true })],
  ['Redis store', () => startGateway({ auth: true, redis: { url: redis.url, prefix: `groups${++prefixes}:` } })],
]

/** Every page, following the Link header. */
async function allPages(gw: TestGateway, stream: string, limit: number) {
  const groups: Array<{ groupId: string; items: number }> = []
  let path: string | undefined = `/streams/${stream}?limit=${limit}`
  let pages = 0
  while (path) {
    const page = await rest(gw.url, 'GET', path)
    expect(page.status).toBe(200)
    expect(page.body.length).toBeLessThanOrEqual(limit)
    groups.push(...page.body)
    path = /<([^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '')?.[1]
    pages += 1
  }
  return { groups, pages }
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

describe.each(stores)('group listing on the %s', (_name, start) => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await start()
  })
  afterAll(async () => {
    await gw?.close()
  })

  it('pages through exactly the groups that hold items, with their counts, in byte order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).filter((s) => !s.includes('\u0000')), { minLength: 0, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        async (ids, limit) => {
          const stream = 'chat'
          const run = `run${Math.random().toString(36).slice(2, 8)}`
          // Groups named run/<id>; the stream holds other groups too, which the filter below ignores.
          const expected = new Map<string, number>()
          for (const [i, id] of ids.entries()) {
            const groupId = `${run}/${id}`
            const items = (i % 3) + 1
            for (let n = 0; n < items; n++) expect((await rest(gw.url, 'PUT', `/streams/${stream}/${encodeURIComponent(groupId)}/i${n}`, { n })).status).toBe(201)
            // Every third group loses all its items again: it is no longer listed.
            if (i % 3 === 2) for (let n = 0; n < items; n++) await rest(gw.url, 'DELETE', `/streams/${stream}/${encodeURIComponent(groupId)}/i${n}`)
            else expected.set(groupId, items)
          }
          const { groups } = await allPages(gw, stream, limit)
          const ours = groups.filter((g) => g.groupId.startsWith(`${run}/`))
          expect(ours).toEqual([...expected].sort(([a], [b]) => byteOrder(a, b)).map(([groupId, items]) => ({ groupId, items })))
          const all = groups.map((g) => g.groupId)
          expect([...all].sort(byteOrder)).toEqual(all)
        },
      ),
      { numRuns: 15 },
    )
  })

  it('lists only what the caller may read, refuses bad input and unknown streams', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      await rest(gw.url, 'PUT', `/streams/private/${user}/note`, { text: 'mine' }, { authorization: `Bearer ${user}` })
    }
    const seen = await rest(gw.url, 'GET', '/streams/private', undefined, { authorization: 'Bearer bob' })
    expect(seen).toMatchObject({ status: 200, body: [{ groupId: 'bob', items: 1 }] })
    expect((await rest(gw.url, 'GET', '/streams/private')).body).toEqual([])
    expect((await rest(gw.url, 'GET', '/streams/private', undefined, { authorization: 'Bearer bad' })).status).toBe(401)
    expect((await rest(gw.url, 'GET', '/streams/nowhere')).status).toBe(404)
    for (const query of ['limit=0', 'limit=1001', 'limit=x', 'limit=-1', 'after=', 'after=a&after=b']) {
      expect({ query, status: (await rest(gw.url, 'GET', `/streams/chat?${query}`)).status }).toEqual({ query, status: 400 })
    }
  })

  it('is ListGroups over Connect, with the same pages and refusals', async () => {
    const client = streamClient(createConnectTransport({ baseUrl: gw.url, httpVersion: '2' }))
    for (const id of ['g-a', 'g-b', 'g-c']) await client.set({ streamName: 'todo', groupId: id, id: 'x', data: { title: id } })
    const first = await client.listGroups({ streamName: 'todo', limit: 2 })
    const rest_ = await client.listGroups({ streamName: 'todo', after: first.nextAfter, limit: 1000 })
    const listed = [...first.groups, ...rest_.groups].map((g) => ({ groupId: g.groupId, items: g.items }))
    expect(listed.filter((g) => g.groupId.startsWith('g-'))).toEqual([
      { groupId: 'g-a', items: 1 },
      { groupId: 'g-b', items: 1 },
      { groupId: 'g-c', items: 1 },
    ])
    expect(first.nextAfter).not.toBe('')
    expect(rest_.nextAfter).toBe('')
    expect((await client.listGroups({ streamName: 'private' }, withToken('alice'))).groups.map((g) => g.groupId)).toEqual(['alice'])
    await expect(client.listGroups({ streamName: 'nowhere' })).rejects.toMatchObject({ code: Code.NotFound })
    await expect(client.listGroups({ streamName: 'todo', limit: 5000 })).rejects.toBeInstanceOf(ConnectError)
  })
})
