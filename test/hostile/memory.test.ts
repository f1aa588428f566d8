import { createConnectTransport } from '@connectrpc/connect-node'
import { describe, expect, it } from 'vitest'
import { streamClient } from '../helpers/connect-clients.ts'
import { until } from '../helpers/gateway.ts'
import { type GatewayProcess, INSTRUMENTED_BIN } from '../helpers/gateway-process.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { rawClient } from '../helpers/raw-ws.ts'
import { sseRead } from '../helpers/sse.ts'
import type { TestRedis } from '../helpers/redis-server.ts'
import type { Watchdog } from '../helpers/watchdog.ts'
import { retainedBytes, watchGateway } from '../helpers/watched-gateway.ts'

/**
 * What the gateway keeps, measured in its own process after garbage collection (`node --expose-gc`, GET
 * /test/heap of test/helpers/instruments.ts): reads keep nothing, a written group costs a bounded amount
 * beyond its data, and a group's history is bounded by its byte budget however much is written to it.
 */

const KiB = 1024
const MiB = 1024 * KiB
/**
 * How much the data in a warmed-up heap moves between two collections when nothing is kept (feedback
 * vectors, caches): measured at a few tens of kB once the same traffic ran twice, and up to 300 kB before.
 */
const NOISE = 512 * KiB


function suite(name: string, withRedis: boolean) {
  describe(name, () => {
    let redis: TestRedis | undefined
    let gateway: GatewayProcess
    let watchdog: Watchdog
    watchGateway((redis) => ({ bin: INSTRUMENTED_BIN, nodeArgs: ['--expose-gc'], args: redis ? ['--redis', redis.url] : [] }), (w) => ({ gateway, watchdog, redis } = w), withRedis)

    const retained = () => retainedBytes(gateway, watchdog)

    /** Reads of groups never written, on every transport, with names from `name(i)`: nothing is kept. */
    async function readEverywhere(round: number, count: number, name: (i: number) => string) {
      const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
      // Ten at a time: this test is about what is kept, not about load.
      for (let i = 0; i < count; i += 10) {
        const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) => name(round * 10_000 + i + j))
        const ws = await rawClient(gateway.wsUrl)
        for (const group of batch) ws.join('chat', group)
        const streams = await Promise.all(batch.map((group) => sseRead(`${gateway.url}/streams/chat/${encodeURIComponent(group)}`)))
        const abort = new AbortController()
        const subscriptions = batch.map(async (group) => {
          await rawRequest(gateway.port, 'GET', `/streams/chat/${encodeURIComponent(group)}`)
          for await (const _ of connect.subscribe({ streamName: 'chat', groupId: group }, { signal: abort.signal })) break
        })
        await Promise.all(subscriptions)
        await until(() => ws.frames.length >= batch.length && streams.every((s) => s.messages.length >= 1), 'the joins and streams synced')
        ws.close()
        for (const stream of streams) stream.close()
        abort.abort()
      }
      await gateway.released()
    }

    it('keeps nothing of read-only traffic: reads, joins, streams and subscriptions of never-written groups', { timeout: 180_000 }, async () => {
      const name = (i: number) => `read-${i}-${'r'.repeat(230)}`
      // The first rounds of any traffic grow the heap (feedback vectors, caches); then it settles.
      await readEverywhere(0, 500, name)
      await readEverywhere(1, 500, name)
      const before = await retained()
      await readEverywhere(2, 500, name)
      const after = await retained()
      // 500 new names of 240 bytes, each read four ways: whatever a read kept past about 256 bytes shows.
      expect(after - before, `retained ${after - before} bytes`).toBeLessThan(NOISE)
      if (redis) expect(((await redis.command('KEYS', '*')) as string[]).filter((k) => k.includes('read-'))).toEqual([])
    })

    it('keeps nothing of joins with names of a megabyte (refused) to groups never written', async () => {
      const before = await retained()
      const ws = await rawClient(gateway.wsUrl)
      for (let i = 0; i < 16; i++) ws.join('chat', `${i}-${'m'.repeat(MiB)}`)
      await until(() => ws.frames.length === 16, 'sixteen answers')
      ws.close()
      await gateway.released(['websocket'])
      const after = await retained()
      expect(after - before, `retained ${after - before} bytes`).toBeLessThan(NOISE)
      if (redis) expect(((await redis.command('KEYS', '*')) as string[]).filter((k) => k.includes('mmmm'))).toEqual([])
    })

    it('keeps a bounded amount per written group beyond its data', async () => {
      const before = await retained()
      const groups = 2000
      for (let i = 0; i < groups; i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) => rawRequest(gateway.port, 'PUT', `/streams/chat/written-${i + j}/a`, { 'content-type': 'application/json' }, '{"v":1}')))
      }
      const perGroup = ((await retained()) - before) / groups
      // A group's item, its last record in the history, the group's log and the names: measured about 1.5 KiB.
      expect(perGroup, `${Math.round(perGroup)} bytes per group`).toBeLessThan(4 * KiB)
    })

    it("bounds a group's history by its byte budget (8 MiB) whatever is written, subscribers on every wire included", async () => {
      const ws = await rawClient(gateway.wsUrl)
      ws.join('chat', 'history-bytes')
      const sse = await sseRead(`${gateway.url}/streams/chat/history-bytes`)
      const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
      const abort = new AbortController()
      // Each wire counts the changes its frames stand for: a reader that falls behind by more than the
      // conflation threshold (1 MiB, one item here) gets merged frames that say how many changes they carry.
      let changes = 0
      let lastKind: string | undefined
      const following = (async () => {
        for await (const response of connect.subscribe({ streamName: 'chat', groupId: 'history-bytes' }, { signal: abort.signal })) {
          changes += Math.max(1, response.conflated)
          lastKind = response.event.case
        }
      })().catch(() => {})
      const counted = (frames: { conflated?: number }[]) => frames.reduce((sum, frame) => sum + Math.max(1, frame.conflated ?? 1), 0)
      const wsChanges = () => counted(ws.frames)
      const sseChanges = () => counted(sse.messages.map((m) => m.frame as { conflated?: number }))
      await until(() => wsChanges() === 1 && sseChanges() === 1 && changes === 1, 'three syncs')
      const before = await retained()
      const item = JSON.stringify({ text: 'h'.repeat(1000 * 1000) })
      for (let i = 0; i < 50; i++) await rawRequest(gateway.port, 'PUT', '/streams/chat/history-bytes/big', { 'content-type': 'application/json' }, item)
      await rawRequest(gateway.port, 'DELETE', '/streams/chat/history-bytes/big')
      await until(() => wsChanges() === 52 && sseChanges() === 52 && changes === 52, 'every change on every wire')
      expect([ws.frames.at(-1)?.event.type, (sse.messages.at(-1)?.frame as { event: { type: string } }).event.type, lastKind]).toEqual(['delete', 'delete', 'delete'])
      const growth = (await retained()) - before
      // 51 MB written; the history keeps at most 8 MiB of payload, each record also encoded once per wire.
      expect(growth, `retained ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(5 * 8 * MiB)
      ws.close()
      sse.close()
      abort.abort()
      await following
    })
  })
}

suite('memory store', false)
suite('Redis store', true)
