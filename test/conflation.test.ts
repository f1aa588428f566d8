// Conflation with real clients: each client reads through a TCP proxy that stops reading for a while, so the
// gateway's socket backs up and its outbound queue passes --conflate-bytes while a burst of large updates,
// deletes and custom events is written. Every client must end in the stored state, with fewer frames than
// records, strictly increasing timestamps, every custom event once and in order, and no disconnect.
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { connectTransport } from '../clients/typescript/src/connect.ts'
import { Stream, type StreamOptions } from '../clients/typescript/src/index.ts'
import type { Frame, Item } from '../clients/typescript/src/types.ts'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { byId, catchUncaught, flavor, MotiaClient } from './helpers/motia-clients.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

const RECORDS = 3000
const ITEMS = 8
const PAD = 'x'.repeat(8000)
const limits = { conflateBytes: 32 * 1024, maxQueueBytes: 256 * 1024 * 1024 }

/** What a test observes of one client: its group state, the custom events it got, the frames if it can tell. */
interface Follower {
  synced(): boolean
  items(): Item[]
  events(): unknown[]
  frames?: () => Array<Pick<Frame, 'timestamp' | 'sequence'> & { type: string }>
  close(): unknown
}

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const metric = async (url: string, name: string, labels: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))
  return line ? Number(line.split(' ').at(-1)) : 0
}

/** Writes the burst in slices (so rounds reach the socket between them); returns the events in order. */
async function burst(gw: TestGateway, group: string) {
  const chat = gw.server.streams.chat!
  const sent: unknown[] = []
  const live = new Set<string>()
  for (let i = 0; i < RECORDS; i++) {
    const id = `k${i % ITEMS}`
    if (i % 75 === 0) {
      sent.push({ n: i })
      await chat.send({ groupId: group }, { type: 'tick', data: { n: i } })
    } else if (i % 11 === 0 && live.has(id)) {
      live.delete(id)
      await chat.delete(group, id)
    } else {
      live.add(id)
      await chat.set(group, id, { n: i, pad: PAD })
    }
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  return sent
}

const summary = (items: Item[]) => byId(items).map(({ id, n }) => ({ id, n }))

async function conflates(transport: string, open: (url: string, group: string) => Promise<Follower>) {
  const gw = await startGateway({ limits })
  cleanup.push(() => gw.close())
  const proxy = await TcpProxy.start([gw.port])
  cleanup.push(() => proxy.close())
  const group = `conflate-${transport}`
  const follower = await open(`http://127.0.0.1:${proxy.port}`, group)
  cleanup.push(() => follower.close())
  await until(() => follower.synced(), `${transport}: the sync`)

  proxy.hold()
  const sent = await burst(gw, group)
  // The gateway writes until the kernel buffers are full, then its queue grows past the soft limit.
  await new Promise((resolve) => setTimeout(resolve, 200))
  proxy.release()

  const stored = summary((await gw.server.streams.chat!.getGroup(group)) as unknown as Item[])
  expect(stored.length).toBeGreaterThan(0)
  await until(() => JSON.stringify(summary(follower.items())) === JSON.stringify(stored) && follower.events().length === sent.length, `${transport}: the stored state`, 20_000)
  expect(follower.events()).toEqual(sent)
  const delivered = await metric(gw.url, 'streamgate_frames_delivered_total', `transport="${transport}"`)
  expect(delivered).toBeGreaterThan(sent.length)
  expect(delivered).toBeLessThan(RECORDS)
  expect(await metric(gw.url, 'streamgate_queue_limit_closes_total', `transport="${transport}"`)).toBe(0)
  expect(proxy.routed).toEqual([0])
  const frames = follower.frames?.().filter((f) => f.type !== 'sync')
  if (frames) {
    expect(frames.length).toBe(delivered - 1)
    for (let i = 1; i < frames.length; i++) {
      expect(frames[i]!.timestamp).toBeGreaterThan(frames[i - 1]!.timestamp)
      expect(frames[i]!.sequence!).toBeGreaterThan(frames[i - 1]!.sequence!)
    }
  }
}

/** @streamgate/client on one of its transports, with its frames recorded. */
const ourClient = (options: (url: string) => StreamOptions) => async (url: string, group: string): Promise<Follower> => {
  const frames: Frame[] = []
  const stream = new Stream(url, { ...options(url), onFrame: (frame) => frames.push(frame) })
  const subscription = stream.subscribeGroup<Item>('chat', group)
  const events: unknown[] = []
  subscription.onEvent('tick', (data) => events.push(data))
  return {
    synced: () => subscription.synced,
    items: () => subscription.getState(),
    events: () => events,
    frames: () => frames.map((f) => ({ timestamp: f.timestamp, sequence: f.sequence, type: f.event.type })),
    close: () => stream.close(),
  }
}

describe('conflation past --conflate-bytes, with clients that read slowly', () => {
  it("Motia's node client over WebSocket", async () => {
    const uncaught = catchUncaught()
    cleanup.push(() => expect(uncaught.dispose()).toEqual([]))
    await conflates('websocket', async (url, group) => {
      const client = new MotiaClient(flavor('@motiadev/stream-client-node'), url.replace('http', 'ws'))
      const watched = client.group('chat', group)
      const events = watched.listen('tick')
      return { synced: () => watched.synced, items: () => watched.state as Item[], events: () => events, close: () => client.close() }
    })
  })

  it('a raw WebSocket client: merged frames say how many changes they stand for', async () => {
    let raw: Awaited<ReturnType<typeof rawClient>> | undefined
    await conflates('websocket', async (url, group) => {
      raw = await rawClient(url.replace('http', 'ws'))
      raw.join('chat', group)
      const state = new Map<string, Item>()
      const events: unknown[] = []
      let seen = 0
      const apply = () => {
        for (; seen < raw!.frames.length; seen++) {
          const { event } = raw!.frames[seen]!
          if (event.type === 'sync') for (const item of event.data as Item[]) state.set(item.id, item)
          else if (event.type === 'create' || event.type === 'update') state.set((event.data as Item).id, event.data as Item)
          else if (event.type === 'delete') state.delete((event.data as Item).id)
          else if (event.type === 'event') events.push(event.event!.data)
        }
      }
      return {
        synced: () => raw!.frames.length > 0,
        items: () => (apply(), [...state.values()]),
        events: () => (apply(), events),
        frames: () => raw!.frames.map((f) => ({ timestamp: f.timestamp, sequence: f.sequence, type: f.event.type })),
        close: () => raw!.close(),
      }
    })
    const conflated = raw!.frames.filter((f) => (f as { conflated?: number }).conflated !== undefined)
    expect(conflated.length).toBeGreaterThan(0)
    expect(conflated.every((f) => (f as unknown as { conflated: number }).conflated > 1)).toBe(true)
  })

  it('@streamgate/client over WebSocket', () => conflates('websocket', ourClient(() => ({ transport: 'websocket', websocket: { WebSocket: WebSocket as never } }))))

  it('@streamgate/client over SSE', () => conflates('sse', ourClient(() => ({ transport: 'sse' }))))

  it('@streamgate/client over Connect', () => conflates('connect', ourClient(() => ({ transport: connectTransport() }))))
})
