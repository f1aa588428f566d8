// The scenarios every transport of @streamgate/client (clients/typescript) must pass against a real gateway.
// test/client-websocket.test.ts, client-sse.test.ts and client-connect.test.ts run them, one transport each.
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { Stream, type StreamOptions } from '../../clients/typescript/src/index.ts'
import type { NetworkChange, NetworkMonitor } from '../../clients/typescript/src/network.ts'
import type { Frame, Item, StreamError, StreamStatus } from '../../clients/typescript/src/types.ts'
import { rest, startGateway, type TestGateway, until } from './gateway.ts'

export interface TransportCase {
  name: string
  /** How the stream is created for this transport (besides what each scenario adds). */
  options: () => StreamOptions
  /** Gateway options this transport's scenarios need (e.g. a short SSE lifetime). */
  gateway?: Parameters<typeof startGateway>[0]
  /** Run only these scenarios (a variant of a transport that the full set already covers). */
  only?: Scenario[]
}

export type Scenario = 'bursts' | 'events' | 'resume' | 'restart' | 'backoff' | 'token' | 'refusal' | 'offline'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const byId = <T extends { id: string }>(items: T[]) => [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
let counter = 0
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`

/**
 * Server-side cuts: every WebSocket upgrade, multiplexed SSE request and Connect Subscribe call the gateway
 * accepts is remembered, and `cut()` destroys their sockets from the server's side (the gateway keeps its
 * memory store and epoch, so clients can resume).
 */
export function serverCuts(gw: TestGateway) {
  const sockets = new Set<Duplex>()
  const keep = (socket: Duplex) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const server = gw.server.app.server
  server.on('upgrade', (_request, socket: Duplex) => keep(socket))
  server.on('request', (request) => {
    const url: string = request.url ?? ''
    if (url.startsWith('/events') || url.startsWith('/streams/') || url.includes('/streamgate.v1.StreamService/Subscribe')) keep(request.socket)
  })
  return {
    get open() {
      return sockets.size
    },
    cut() {
      const n = sockets.size
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      return n
    },
  }
}

/** A network monitor the test switches by hand. */
export function manualNetwork(): NetworkMonitor & { set(change: NetworkChange): void } {
  let online = true
  let visible = true
  const listeners = new Set<(change: NetworkChange) => void>()
  return {
    isOnline: () => online,
    isVisible: () => visible,
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    set(change) {
      if (change === 'online' || change === 'offline') online = change === 'online'
      else visible = change === 'visible'
      for (const listener of [...listeners]) listener(change)
    },
  }
}

/** Records what a stream did: frames, errors, statuses. */
function recorder() {
  const frames: Frame[] = []
  const errors: StreamError[] = []
  const statuses: Array<{ status: StreamStatus; at: number }> = []
  return {
    frames,
    errors,
    statuses,
    hooks: { onFrame: (frame: Frame) => frames.push(frame), onError: (error: StreamError) => errors.push(error) },
    watch(stream: Stream) {
      stream.onStatusChange((status) => statuses.push({ status, at: Date.now() }))
      return stream
    },
  }
}

export function clientScenarios(transport: TransportCase) {
  const gateways: TestGateway[] = []
  const streams: Stream[] = []
  const start = async (options: Parameters<typeof startGateway>[0] = {}) => {
    const gw = await startGateway({ ...transport.gateway, ...options })
    gateways.push(gw)
    return gw
  }
  const open = (gw: TestGateway | string, options: StreamOptions = {}) => {
    const stream = new Stream(typeof gw === 'string' ? gw : gw.url, { ...transport.options(), backoff: { initialMs: 20, maxMs: 200 }, ...options })
    streams.push(stream)
    return stream
  }
  // A crash of the host is what Motia's Node client does on a refused connection; these tests fail on one.
  const crashes: unknown[] = []
  const onCrash = (error: unknown) => crashes.push(error)

  afterEach(async () => {
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
    for (const stream of streams.splice(0)) stream.close()
    for (const gw of gateways.splice(0)) await gw.close()
    expect(crashes.splice(0)).toEqual([])
  })
  const guard = () => {
    process.on('uncaughtException', onCrash)
    process.on('unhandledRejection', onCrash)
  }

  const scenario = (key: Scenario, name: string, test: () => Promise<void>) =>
    transport.only && !transport.only.includes(key) ? undefined : it(name, test)

  describe(`@streamgate/client over ${transport.name}`, () => {
    scenario('bursts', 'converges after bursts of concurrent writes (same-millisecond ones included), group and item alike', async () => {
      guard()
      const gw = await start()
      const chat = gw.server.streams.chat!
      const group = unique('burst')
      const seen = recorder()
      const stream = open(gw, seen.hooks)
      const todos = stream.subscribeGroup<Item>('chat', group)
      const k3 = stream.subscribeItem<Item>('chat', group, 'k3')
      await until(() => todos.synced && k3.synced, 'both syncs')
      expect(todos.getState()).toEqual([])
      expect(k3.getState()).toBeNull()

      // Unawaited writes issued in one tick: many land in the same millisecond.
      const writes: Array<Promise<unknown>> = []
      for (let i = 0; i < 300; i++) writes.push(chat.set(group, `k${i % 12}`, { i }))
      await Promise.all(writes)
      await Promise.all([chat.delete(group, 'k0'), chat.delete(group, 'k5'), chat.set(group, 'k3', { i: 'last' }), chat.set(group, 'new', { i: -1 })])
      for (let i = 0; i < 50; i++) writes.push(chat.set(group, `k${i % 4}`, { i: 1000 + i }))
      await Promise.all(writes)

      const stored = (await rest(gw.url, 'GET', `/streams/chat/${group}`)).body as Item[]
      await until(() => JSON.stringify(byId(todos.getState())) === JSON.stringify(byId(stored)), 'the group converges to the stored items')
      expect(todos.getState()).toEqual(stored)
      const storedK3 = (await rest(gw.url, 'GET', `/streams/chat/${group}/k3`)).body
      await until(() => JSON.stringify(k3.getState()) === JSON.stringify(storedK3), 'the item converges')
      expect(seen.errors).toEqual([])
    })

    scenario('events', 'delivers custom events once each: group-level ones to group subscriptions, item-level ones to both', async () => {
      guard()
      const gw = await start()
      const chat = gw.server.streams.chat!
      const group = unique('events')
      const stream = open(gw)
      const room = stream.subscribeGroup('chat', group)
      const item = stream.subscribeItem('chat', group, 'm1')
      const roomEvents: unknown[] = []
      const itemEvents: unknown[] = []
      room.onEvent('typing', (data) => roomEvents.push(['typing', data]))
      room.onEvent('reaction', (data) => roomEvents.push(['reaction', data]))
      item.onEvent('typing', (data) => itemEvents.push(['typing', data]))
      item.onEvent('reaction', (data) => itemEvents.push(['reaction', data]))
      await until(() => room.synced && item.synced, 'syncs')
      await chat.send({ groupId: group }, { type: 'typing', data: { user: 'u1' } })
      await chat.send({ groupId: group, id: 'm1' }, { type: 'reaction', data: { emoji: '+1' } })
      await chat.send({ groupId: group, id: 'other' }, { type: 'reaction', data: { emoji: 'x' } })
      await chat.send({ groupId: group }, { type: 'typing', data: null })
      await until(() => roomEvents.length === 4 && itemEvents.length === 1, 'the events')
      expect(roomEvents).toEqual([
        ['typing', { user: 'u1' }],
        ['reaction', { emoji: '+1' }],
        ['reaction', { emoji: 'x' }],
        ['typing', null],
      ])
      expect(itemEvents).toEqual([['reaction', { emoji: '+1' }]])
      // A second subscription to the same address shares the state and gets later events.
      const again = stream.subscribeGroup('chat', group)
      expect(again.synced).toBe(true)
      const againEvents: unknown[] = []
      again.onEvent('typing', (data) => againEvents.push(data))
      await chat.send({ groupId: group }, { type: 'typing', data: 2 })
      await until(() => againEvents.length === 1 && roomEvents.length === 5, 'the event on both subscriptions')
    })

    scenario('resume', 'resumes after server-side cuts mid-burst: every change once, in order, without a new sync', async () => {
      guard()
      const gw = await start()
      const cuts = serverCuts(gw)
      const chat = gw.server.streams.chat!
      const group = unique('resume')
      const seen = recorder()
      const stream = seen.watch(open(gw, seen.hooks))
      const sub = stream.subscribeGroup<Item>('chat', group)
      const ticks: number[] = []
      sub.onEvent('tick', (data: { n: number }) => ticks.push(data.n))
      await until(() => sub.synced && stream.status === 'open', 'the first sync')

      let sent = 0
      let written = 0
      const write = async (n: number) => {
        for (let i = 0; i < n; i++, written++) {
          if (written % 4 === 0) await chat.send({ groupId: group }, { type: 'tick', data: { n: sent++ } })
          else await chat.set(group, `k${written % 7}`, { written })
        }
      }
      let cutCount = 0
      for (let round = 0; round < 3; round++) {
        await write(100)
        // Cut while connected; writes go on before the gateway noticed, and while the client is away.
        cutCount += cuts.cut() > 0 ? 1 : 0
        await write(50)
        await sleep(5)
        await write(50)
        await until(() => cuts.open > 0 && stream.status === 'open', 'reconnected')
      }
      await write(100)
      expect(cutCount).toBe(3)
      const stored = (await rest(gw.url, 'GET', `/streams/chat/${group}`)).body as Item[]
      await until(() => ticks.length === sent && JSON.stringify(byId(sub.getState())) === JSON.stringify(byId(stored)), 'every event and the final state')
      expect(ticks).toEqual([...Array(sent).keys()])

      const mine = seen.frames.filter((f) => f.groupId === group)
      const syncs = mine.filter((f) => f.event.type === 'sync')
      expect(syncs).toHaveLength(1)
      const seqs = mine.filter((f) => f.event.type !== 'sync').map((f) => f.sequence!)
      const first = syncs[0]!.sequence!
      // Counted by sequence: exactly the log after the sync, no gap, no duplicate.
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => first + 1 + k))
      expect(seqs).toHaveLength(written)
      expect(stream.attempts).toBeGreaterThanOrEqual(cutCount + 1)
      expect(seen.errors.filter((e) => e.kind !== 'connection')).toEqual([])
    })

    scenario('restart', 'after a gateway restart (new epoch) gets a reset sync and replaces its state', async () => {
      guard()
      const gw = await start()
      const group = unique('restart')
      const other = unique('restart-item')
      await gw.server.streams.chat!.set(group, 'a', { v: 1 })
      await gw.server.streams.chat!.set(group, 'b', { v: 1 })
      await gw.server.streams.chat!.set(other, 'a', { v: 1 })
      const seen = recorder()
      const stream = open(gw, seen.hooks)
      const sub = stream.subscribeGroup<Item>('chat', group)
      const item = stream.subscribeItem<Item>('chat', other, 'a')
      await until(() => sub.getState().length === 2 && item.getState() !== null, 'the first state')
      await gw.close()
      gateways.splice(gateways.indexOf(gw), 1)
      const back = await start({ port: gw.port })
      await back.server.streams.chat!.set(group, 'c', { v: 2 })
      await until(() => JSON.stringify(sub.getState()) === JSON.stringify([{ v: 2, id: 'c' }]) && item.getState() === null, 'the new state')
      // Both resumed with their tokens; the new gateway's log has another epoch: reset syncs.
      for (const groupId of [group, other]) {
        const syncs = seen.frames.filter((f) => f.groupId === groupId && f.event.type === 'sync')
        expect(syncs.length).toBeGreaterThanOrEqual(2)
        expect(syncs.slice(1).every((f) => (f.event as { reset?: boolean }).reset === true)).toBe(true)
      }
    })

    scenario('backoff', 'backs off while the gateway is down (no crash, no tight loop), comes back, and close() stops everything', async () => {
      guard()
      const gw = await start()
      const seen = recorder()
      const stream = seen.watch(open(gw, { ...seen.hooks, backoff: { initialMs: 50, maxMs: 400 } }))
      const group = unique('down')
      const sub = stream.subscribeGroup<Item>('chat', group)
      await until(() => sub.synced && stream.status === 'open', 'connected')
      await gw.close()
      gateways.splice(gateways.indexOf(gw), 1)
      await until(() => stream.status === 'reconnecting', 'reconnecting')
      const before = stream.attempts
      await sleep(1500)
      const attempts = stream.attempts - before
      // Full jitter below 50, 100, 200, 400, 400... ms: a handful of attempts in 1.5 s, never a loop.
      expect(attempts).toBeGreaterThanOrEqual(2)
      expect(attempts).toBeLessThanOrEqual(30)
      expect(seen.errors.length).toBeGreaterThan(0)
      expect(seen.errors.every((e) => e.kind === 'connection')).toBe(true)

      const back = await start({ port: gw.port })
      await back.server.streams.chat!.set(group, 'x', { v: 1 })
      await until(() => sub.getState().length === 1, 'back after the restart')

      await back.close()
      gateways.splice(gateways.indexOf(back), 1)
      await until(() => stream.status === 'reconnecting', 'reconnecting again')
      stream.close()
      expect(stream.status).toBe('closed')
      const closedAt = stream.attempts
      await sleep(500)
      expect(stream.attempts).toBe(closedAt)
    })

    scenario('token', 'asks the token provider again on every reconnect and uses the new token', async () => {
      guard()
      const gw = await start({ auth: true })
      const cuts = serverCuts(gw)
      const tokens = ['bad', 'bad', 'alice', 'alice']
      const asked: string[] = []
      const seen = recorder()
      const stream = open(gw, {
        ...seen.hooks,
        auth: async () => {
          const token = tokens.shift() ?? 'alice'
          asked.push(token)
          return token
        },
      })
      const mine = stream.subscribeGroup<Item>('private', 'alice')
      await until(() => mine.synced, 'accepted once the provider returns a good token')
      expect(asked.slice(0, 3)).toEqual(['bad', 'bad', 'alice'])
      expect(seen.errors.length).toBeGreaterThanOrEqual(2)
      const calls = asked.length
      await gw.server.streams.private!.set('alice', 'n1', { text: 'hi' })
      await until(() => mine.getState().length === 1, 'a change')
      cuts.cut()
      await until(() => asked.length > calls, 'asked again after the cut')
      await gw.server.streams.private!.set('alice', 'n2', { text: 'again' })
      await until(() => mine.getState().length === 2, 'live again')
    })

    scenario('refusal', 'reports a refused subscription as its error event and keeps the others', async () => {
      guard()
      const gw = await start({ auth: true })
      const seen = recorder()
      const stream = open(gw, { ...seen.hooks, auth: 'alice' })
      const mine = stream.subscribeGroup<Item>('private', 'alice')
      const theirs = stream.subscribeGroup<Item>('private', 'bob')
      const refusals: unknown[] = []
      theirs.onEvent('error', (data) => refusals.push(data))
      await until(() => refusals.length === 1 && mine.synced, 'the refusal and the allowed sync')
      expect(refusals[0]).toMatchObject({ code: 'STREAM_ACCESS_DENIED' })
      expect(seen.errors.some((e) => e.kind === 'refused' && e.address?.groupId === 'bob')).toBe(true)
      await gw.server.streams.private!.set('alice', 'n1', { text: 'still here' })
      await until(() => mine.getState().length === 1, 'the allowed subscription stays live')
      expect(theirs.synced).toBe(false)
    })

    scenario('offline', 'waits while offline and reconnects at once when the network is back', async () => {
      guard()
      const gw = await start()
      const cuts = serverCuts(gw)
      const network = manualNetwork()
      const stream = open(gw, { network, backoff: { initialMs: 5_000, maxMs: 5_000 } })
      const group = unique('offline')
      const sub = stream.subscribeGroup<Item>('chat', group)
      await until(() => sub.synced && stream.status === 'open', 'connected')
      network.set('offline')
      cuts.cut()
      await until(() => stream.status === 'offline', 'offline')
      const attempts = stream.attempts
      await gw.server.streams.chat!.set(group, 'while-away', { v: 1 })
      await sleep(200)
      expect(stream.attempts).toBe(attempts)
      // The back-off would wait up to 5 s; coming online reconnects now, and resumes.
      network.set('online')
      await until(() => sub.getState().length === 1, 'resumed when back online', 2_000)
      expect(stream.attempts).toBe(attempts + 1)
    })
  })
}
