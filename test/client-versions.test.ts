// Item versions in @streamgate/client over every transport, against a real gateway: what a subscription
// shows carries the version REST's ETag names, so a conditional write from it succeeds, and one from an
// older version is refused.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { connectTransport } from '../clients/typescript/src/connect.ts'
import { Stream, type StreamOptions } from '../clients/typescript/src/index.ts'
import type { Item } from '../clients/typescript/src/types.ts'
import { unique } from './helpers/client-scenarios.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway
beforeAll(async () => {
  gw = await startGateway()
})
afterAll(() => gw?.close())

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** The item's version as REST says it (ETag `"<version>"`); undefined when it does not exist. */
async function etag(groupId: string, id: string) {
  const response = await rest(gw.url, 'GET', `/streams/chat/${groupId}/${id}`)
  return response.status === 200 ? Number(JSON.parse(response.headers.get('etag')!)) : undefined
}

const transports: Array<[string, () => StreamOptions['transport']]> = [
  ['WebSocket', () => 'websocket'],
  ['SSE', () => 'sse'],
  ['Connect (binary)', () => connectTransport()],
  ['Connect (JSON)', () => connectTransport({ binary: false })],
]

for (const [name, transport] of transports) {
  describe(`versions over ${name}`, () => {
    it('after a sync and after each change, versionOf is the ETag; If-Match with it writes, with an older one is 412', async () => {
      const groupId = unique('versions')
      const chat = gw.server.streams.chat!
      await chat.set(groupId, 'a', { n: 1 })
      await chat.set(groupId, 'b', { n: 1 })
      await chat.send({ groupId }, { type: 'between', data: null })
      await chat.set(groupId, 'a', { n: 2 })

      const stream = new Stream(gw.url, { transport: transport() })
      cleanups.push(() => stream.close())
      const group = stream.subscribeGroup<Item>('chat', groupId)
      const item = stream.subscribeItem<Item>('chat', groupId, 'a')
      await until(() => group.synced && item.synced, 'both syncs')
      // a was written at 1 and 4, b at 2 (3 is the event): a version is not the group's position.
      expect([group.versionOf('a'), group.versionOf('b'), item.version]).toEqual([4, 2, 4])
      expect([group.versionOf('a'), group.versionOf('b')]).toEqual([await etag(groupId, 'a'), await etag(groupId, 'b')])
      expect(group.versionOf('missing')).toBeUndefined()

      await chat.set(groupId, 'b', { n: 2 })
      await until(() => group.getState().find((i) => i.id === 'b')?.n === 2, 'the update of b')
      expect(group.versionOf('b')).toBe(await etag(groupId, 'b'))
      expect(group.versionOf('b')).toBe(5)

      // A conditional write from what the subscription shows.
      const shown = item.version!
      const put = await rest(gw.url, 'PUT', `/streams/chat/${groupId}/a`, { n: 3 }, { 'if-match': `"${shown}"` })
      expect(put.status).toBe(200)
      await until(() => item.getState()?.n === 3 && group.getState().find((i) => i.id === 'a')?.n === 3, 'the conditional update')
      expect(item.version).toBe(await etag(groupId, 'a'))
      expect(group.versionOf('a')).toBe(item.version)
      expect(item.version).toBeGreaterThan(shown)
      const stale = await rest(gw.url, 'PUT', `/streams/chat/${groupId}/a`, { n: 4 }, { 'if-match': `"${shown}"` })
      expect(stale.status).toBe(412)
      expect(stale.body).toMatchObject({ code: 'FAILED_PRECONDITION' })

      // A delete removes the version; a create gives one.
      await chat.delete(groupId, 'a')
      await until(() => item.getState() === null && !group.getState().some((i) => i.id === 'a'), 'the delete')
      expect([item.version, group.versionOf('a')]).toEqual([undefined, undefined])
      await chat.set(groupId, 'c', { n: 1 })
      await until(() => group.getState().some((i) => i.id === 'c'), 'the create')
      expect(group.versionOf('c')).toBe(await etag(groupId, 'c'))
    })
  })
}
