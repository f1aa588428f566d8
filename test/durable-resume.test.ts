import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { connectTransport } from '../clients/typescript/src/connect.ts'
import { Stream, type StreamOptions } from '../clients/typescript/src/index.ts'
import type { Frame as ClientFrame } from '../clients/typescript/src/types.ts'
import { CliGateway } from './helpers/cli-process.ts'
import { rest, until } from './helpers/gateway.ts'
import { motiaNodeFollower } from './helpers/motia-node-process.ts'
import { rawGrpcSubscribe } from './helpers/raw-grpc.ts'
import { type Frame, rawClient } from './helpers/raw-ws.ts'
import { seqOf, sseRead } from './helpers/sse.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

type Item = { id: string } & Record<string, unknown>

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const put = (gw: CliGateway, group: string, id: string, data: object) => rest(gw.url, 'PUT', `/streams/chat/${group}/${id}`, data)
/** A group's state in one canonical form (items by id, keys sorted). */
const byId = (items: Item[]) =>
  JSON.stringify([...items].sort((a, b) => a.id.localeCompare(b.id)).map((item) => Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))))

/** What a frame says happened, comparable across transports. */
const gist = (frame: Frame | ClientFrame) => {
  const event = frame.event as { type: string; data?: { id?: string }; event?: { type: string } }
  return event.type === 'event' ? `event:${event.event?.type}` : `${event.type}:${event.data?.id ?? ''}`
}
const increasing = (values: number[]) => values.every((v, i) => i === 0 || v > values[i - 1]!)

const CLIENT_TRANSPORTS: Record<string, () => StreamOptions> = {
  WebSocket: () => ({ transport: 'websocket', websocket: { WebSocket: WebSocket as never } }),
  SSE: () => ({ transport: 'sse' }),
  Connect: () => ({ transport: connectTransport() }),
}

describe('subscribers across a kill -9 of the durable gateway', () => {
  it('resume with their token on WebSocket, SSE and gRPC: exactly the missed events, no sync, timestamps still increasing', async () => {
    const gw = await CliGateway.create()
    cleanup.push(() => gw.close())
    await gw.start()
    const group = 'resume'
    const path = `/streams/chat/${group}`

    // Before: a raw subscriber per transport, and @streamgate/client on each of its transports.
    const ws = await rawClient(gw.wsUrl)
    ws.join('chat', group)
    const sse = await sseRead(gw.url + path)
    const grpc = rawGrpcSubscribe(gw.url, { streamName: 'chat', groupId: group })
    grpc.readAll()
    cleanup.push(() => grpc.close(), () => sse.close(), () => ws.close())
    const clients = Object.entries(CLIENT_TRANSPORTS).map(([name, options]) => {
      const frames: ClientFrame[] = []
      const stream = new Stream(gw.url, { ...options(), backoff: { initialMs: 50, maxMs: 300 }, onFrame: (f) => frames.push(f) })
      cleanup.push(() => stream.close())
      return { name, frames, subscription: stream.subscribeGroup<Item>('chat', group) }
    })
    // Motia's Node client dies for good on its first refused reconnect (its socket has no 'error' listener):
    // it reaches the gateway through a proxy that holds connections while the gateway restarts.
    const balancer = await TcpProxy.start([gw.port], { holdMs: 30_000 })
    cleanup.push(() => balancer.close())
    const motia = motiaNodeFollower(`ws://127.0.0.1:${balancer.port}`, 'chat', group)
    cleanup.push(() => motia.close())
    await until(() => clients.every((c) => c.subscription.synced) && motia.state !== undefined, 'every client synced')

    await put(gw, group, 'a', { v: 1 })
    await put(gw, group, 'b', { v: 1 })
    await put(gw, group, 'a', { v: 2 })
    await rest(gw.url, 'POST', `${path}/events`, { type: 'note', data: { n: 1 } })
    const before = ['sync:', 'create:a', 'create:b', 'update:a', 'event:note']
    await until(() => ws.frames.length === 5 && sse.messages.length === 5 && grpc.messages.length === 5, 'the raw subscribers got everything')
    await until(() => clients.every((c) => c.frames.length === 5) && byId((motia.state ?? []) as Item[]) === byId([{ id: 'a', v: 2 }, { id: 'b', v: 1 }]), 'the clients got everything')
    expect(ws.frames.map(gist)).toEqual(before)
    const tokens = { ws: ws.frames.at(-1)!.resumeToken!, sse: sse.messages.at(-1)!.id!, grpc: grpc.messages.at(-1)!.resumeToken }
    expect(new Set(Object.values(tokens)).size).toBe(1)
    const lastTimestamp = ws.frames.at(-1)!.timestamp

    await gw.kill()
    balancer.cut()
    await gw.start()
    await put(gw, group, 'c', { v: 1 })
    await rest(gw.url, 'DELETE', `${path}/a`)
    await rest(gw.url, 'POST', `${path}/events`, { type: 'note', data: { n: 2 } })
    const missed = ['create:c', 'delete:a', 'event:note']

    const ws2 = await rawClient(gw.wsUrl)
    ws2.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: group, subscriptionId: 's', resumeToken: tokens.ws } }))
    const sse2 = await sseRead(gw.url + path, { 'last-event-id': tokens.sse })
    const grpc2 = rawGrpcSubscribe(gw.url, { streamName: 'chat', groupId: group, resumeToken: tokens.grpc })
    grpc2.readAll()
    cleanup.push(() => grpc2.close(), () => sse2.close(), () => ws2.close())
    await until(() => ws2.frames.length === 3 && sse2.messages.length === 3 && grpc2.messages.length === 3, 'the missed events')
    await put(gw, group, 'd', { v: 1 })
    await until(() => ws2.frames.length === 4 && sse2.messages.length === 4 && grpc2.messages.length === 4, 'a live change after the replay')

    const after = [...missed, 'create:d']
    expect(ws2.frames.map(gist)).toEqual(after)
    expect(sse2.messages.map((m) => gist(m.frame))).toEqual(after)
    expect(grpc2.messages.map((m) => (m.event.case === 'custom' ? `event:${m.event.value.type}` : `${m.event.case}:${m.id}`))).toEqual(after)
    expect(sse2.messages.map((m) => seqOf(m.id))).toEqual([5, 6, 7, 8])
    for (const timestamps of [ws2.frames.map((f) => f.timestamp), sse2.messages.map((m) => m.frame.timestamp), grpc2.messages.map((m) => Number(m.timestamp))]) {
      expect(timestamps[0]).toBeGreaterThan(lastTimestamp)
      expect(increasing(timestamps)).toBe(true)
    }

    // The clients came back by themselves with their tokens: the missed events, no second sync.
    const final = [{ id: 'b', v: 1 }, { id: 'c', v: 1 }, { id: 'd', v: 1 }]
    await until(() => clients.every((c) => byId(c.subscription.getState()) === byId(final)), 'the clients caught up')
    for (const client of clients) {
      expect(client.frames.map(gist), client.name).toEqual([...before, ...after])
      expect(increasing(client.frames.map((f) => f.timestamp)), client.name).toBe(true)
    }
    // Motia's client sends no token: it re-joins and gets a sync, which its reducer accepts only because the
    // group's clock went on from where it was.
    await until(() => byId((motia.state ?? []) as Item[]) === byId(final), "Motia's client caught up")
  }, 120_000)
})
