import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { rawClient } from './helpers/raw-ws.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

const metric = async (url: string, name: string, labels = '') => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('health, readiness and metrics', () => {
  it('reports live and ready', async () => {
    gw = await startGateway()
    expect(await rest(gw.url, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await rest(gw.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } })
  })

  it('counts connections, subscriptions, events, frames and rejected inputs in Prometheus format', async () => {
    gw = await startGateway()
    const a = await rawClient(gw.wsUrl)
    const b = await rawClient(gw.wsUrl)
    a.join('todo', 'm')
    b.join('todo', 'm')
    b.join('todo', 'm', 'x')
    await until(() => a.frames.length === 1 && b.frames.length === 2, 'syncs')
    expect(await metric(gw.url, 'streamgate_connections', 'transport="websocket"')).toBe(2)
    expect(await metric(gw.url, 'streamgate_subscriptions', 'transport="websocket"')).toBe(3)
    await rest(gw.url, 'PUT', '/streams/todo/m/x', { title: 't' })
    await until(() => a.frames.length === 2 && b.frames.length === 3, 'create')
    expect(await metric(gw.url, 'streamgate_events_written_total')).toBe(1)
    expect(await metric(gw.url, 'streamgate_frames_delivered_total', 'transport="websocket"')).toBe(5)
    a.ws.send('garbage')
    await rest(gw.url, 'PUT', '/streams/todo/m/x', { title: '' })
    await until(async () => (await metric(gw!.url, 'streamgate_rejected_inputs_total', 'transport="websocket",reason="malformed_json"')) === 1, 'malformed frame counted')
    expect(await metric(gw.url, 'streamgate_rejected_inputs_total', 'transport="rest",reason="invalid_argument"')).toBe(1)
    a.close()
    b.close()
    await until(async () => (await metric(gw!.url, 'streamgate_subscriptions', 'transport="websocket"')) === 0, 'subscriptions released')
    expect(await metric(gw.url, 'streamgate_connections', 'transport="websocket"')).toBe(0)
  })
})

describe('metric names and latencies', () => {
  it('names process metrics once, with the streamgate_ prefix', async () => {
    gw = await startGateway()
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    expect(text).toMatch(/^streamgate_process_cpu_seconds_total \d/m)
    expect(text).toMatch(/^streamgate_nodejs_eventloop_lag_seconds \d/m)
    expect(text).not.toContain('streamgate_process_process_')
    expect(text).not.toContain('streamgate_process_nodejs_')
    // Counters end in _total; every metric has a help text.
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/)
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'))
    }
  })

  it('times each write by operation and transport, and each delivered record once per round', async () => {
    gw = await startGateway()
    const a = await rawClient(gw.wsUrl)
    const b = await rawClient(gw.wsUrl)
    a.join('todo', 'm')
    b.join('todo', 'm')
    await until(() => a.frames.length === 1 && b.frames.length === 1, 'syncs')
    const count = (labels: string) => metric(gw!.url, 'streamgate_write_duration_seconds_count', labels)
    expect(await count('operation="set",transport="rest"')).toBe(0)
    await rest(gw.url, 'PUT', '/streams/todo/m/x', { title: 't' })
    expect(await count('operation="set",transport="rest"')).toBe(1)
    // A refused write never reaches the store, and is not timed.
    await rest(gw.url, 'PUT', '/streams/todo/m/x', { title: '' })
    expect(await count('operation="set",transport="rest"')).toBe(1)
    await gw.server.streams.todo!.set('m', 'y', { title: 'u' })
    expect(await count('operation="set",transport="internal"')).toBe(1)
    await rest(gw.url, 'DELETE', '/streams/todo/m/y')
    expect(await count('operation="delete",transport="rest"')).toBe(1)
    await rest(gw.url, 'POST', '/streams/todo/m/events', { type: 'ping', data: {} })
    expect(await count('operation="send",transport="rest"')).toBe(1)
    expect(await metric(gw.url, 'streamgate_write_duration_seconds_bucket', 'le="+Inf",operation="set",transport="rest"')).toBe(1)
    await until(() => a.frames.length === 5 && b.frames.length === 5, 'four records at both clients')
    // Four records reached two connections: four observations, not eight.
    await until(async () => (await metric(gw!.url, 'streamgate_delivery_lag_seconds_count')) === 4, 'lag observed per record')
    expect(await metric(gw.url, 'streamgate_delivery_lag_seconds_bucket', 'le="+Inf"')).toBe(4)
    a.close()
    b.close()
  })

  it('reports the bytes waiting in outbound queues when scraped', async () => {
    gw = await startGateway({ limits: { maxQueueBytes: 64 * 1024 * 1024, conflateBytes: 64 * 1024 * 1024 } })
    const slow = await rawClient(gw.wsUrl)
    slow.join('chat', 'q')
    await until(() => slow.frames.length === 1, 'sync')
    expect(await metric(gw.url, 'streamgate_outbound_queued_bytes', 'transport="websocket"')).toBe(0)
    ;(slow.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const big = 'x'.repeat(64 * 1024)
    // More than the loopback socket buffers hold: the rest waits in the gateway's queue.
    for (let i = 0; i < 400; i++) await gw.server.streams.chat!.set('q', `i${i}`, { text: big })
    await until(async () => (await metric(gw!.url, 'streamgate_outbound_queued_bytes', 'transport="websocket"')) > 1024 * 1024, 'queued bytes reported')
    ;(slow.ws as unknown as { _socket: { resume(): void } })._socket.resume()
    await until(() => slow.frames.length === 401, 'every change delivered', 30_000)
    expect(await metric(gw.url, 'streamgate_outbound_queued_bytes', 'transport="websocket"')).toBe(0)
    slow.close()
  })
})

describe('slow consumers', () => {
  it('closes a connection whose outbound queue passes the limit with 1013, and others keep receiving', async () => {
    gw = await startGateway({ limits: { maxQueueBytes: 256 * 1024 } })
    const slow = await rawClient(gw.wsUrl)
    const healthy = await rawClient(gw.wsUrl)
    slow.join('chat', 'firehose')
    healthy.join('chat', 'firehose')
    await until(() => slow.frames.length === 1 && healthy.frames.length === 1, 'syncs')
    // The slow client stops reading: the kernel buffers fill, then the gateway's queue grows.
    ;(slow.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const big = 'x'.repeat(16 * 1024)
    // Paced writes: a reader that keeps up drains between them; the queue limit bounds what one turn of the
    // event loop may leave unsent, so it must stay above the largest burst a healthy client gets at once.
    for (let i = 0; i < 400; i++) {
      await gw.server.streams.chat!.set('firehose', `i${i % 5}`, { text: big, i })
      await new Promise((r) => setTimeout(r, 1))
    }
    await until(() => healthy.frames.length === 401, 'every change at the healthy client')
    await until(async () => (await metric(gw!.url, 'streamgate_queue_limit_closes_total', 'transport="websocket"')) === 1, 'queue-limit close counted')
    ;(slow.ws as unknown as { _socket: { resume(): void } })._socket.resume()
    const { code, reason } = await slow.closed
    expect({ code, reason }).toEqual({ code: 1013, reason: 'outbound queue limit exceeded' })
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN)
    expect(healthy.frames.at(-1)?.event.data).toMatchObject({ i: 399 })
    healthy.close()
  })
})

describe('keepalive', () => {
  it('pings idle connections and drops a peer that stops answering', async () => {
    gw = await startGateway({ pingIntervalMs: 100 })
    const live = await rawClient(gw.wsUrl)
    let pings = 0
    live.ws.on('ping', () => pings++)
    const dead = await rawClient(gw.wsUrl)
    // A peer that vanished: it neither reads nor answers pings.
    ;(dead.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    ;(dead.ws as unknown as { pong: () => void }).pong = () => {}
    await until(async () => (await metric(gw!.url, 'streamgate_connections', 'transport="websocket"')) === 1, 'the dead peer dropped')
    expect(pings).toBeGreaterThanOrEqual(2)
    expect(live.ws.readyState).toBe(WebSocket.OPEN)
    live.close()
  })
})

describe('snapshot then live, under concurrent writes', () => {
  it('gives every joining client exactly the stored state, with no change lost or doubled after its sync', async () => {
    gw = await startGateway()
    const chat = gw.server.streams.chat!
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(gw!.wsUrl)))
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        if (i % 4 === 3) await chat.delete('race', `k${i % 9}`)
        else await chat.set('race', `k${i % 9}`, { v: i })
        if (i % 16 === 0) await new Promise((r) => setImmediate(r))
      }
    })()
    for (const c of clients) {
      c.join('chat', 'race')
      await new Promise((r) => setTimeout(r, 2))
    }
    await until(() => clients.every((c) => c.frames.length > 5), 'live changes at every client')
    writing = false
    await writer
    const stored = (await chat.getGroup('race')).map(({ __motia, ...item }) => item)
    const expected = Object.fromEntries(stored.map((i) => [i.id, i]))
    for (const c of clients) {
      await until(() => {
        const state = new Map<string, unknown>()
        for (const f of c.frames) {
          if (f.event.type === 'sync') for (const item of f.event.data as Array<{ id: string }>) state.set(item.id, item)
          else if (f.event.type === 'delete') state.delete(f.id!)
          else state.set(f.id!, f.event.data)
        }
        return JSON.stringify(Object.fromEntries([...state].sort())) === JSON.stringify(Object.fromEntries(Object.entries(expected).sort()))
      }, 'client state equal to the store')
      expect(c.frames.filter((f) => f.event.type === 'sync')).toHaveLength(1)
      const stamps = c.frames.map((f) => f.timestamp)
      expect(new Set(stamps).size).toBe(stamps.length)
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!)
      // Create only for an item the client does not have, update and delete only for one it has.
      const present = new Set<string>()
      for (const f of c.frames) {
        if (f.event.type === 'sync') for (const item of f.event.data as Array<{ id: string }>) present.add(item.id)
        else if (f.event.type === 'create') expect(present.has(f.id!)).toBe(false), present.add(f.id!)
        else expect(present.has(f.id!)).toBe(true), f.event.type === 'delete' && present.delete(f.id!)
      }
      c.close()
    }
  })
})
