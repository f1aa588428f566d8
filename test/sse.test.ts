import { EventSource } from 'eventsource'
import { afterEach, describe, expect, it } from 'vitest'
import { rawClient } from './helpers/raw-ws.ts'
import { epochOf, seqOf, sseRead } from './helpers/sse.ts'
import { FIXTURE_STREAMS, rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'

const SHORT_HISTORY = new URL('./fixtures/short-history', import.meta.url).pathname
const gateways: TestGateway[] = []
const start = async (options: Parameters<typeof startGateway>[0] = {}) => {
  const gw = await startGateway({ streamDirs: [FIXTURE_STREAMS, SHORT_HISTORY], ...options })
  gateways.push(gw)
  return gw
}
const closers: Array<() => void> = []
afterEach(async () => {
  for (const close of closers.splice(0)) close()
  for (const gw of gateways.splice(0)) await gw.close()
})
const eventSource = (url: string, headers: Record<string, string> = {}) => {
  const es = new EventSource(url, { fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...headers } }) })
  closers.push(() => es.close())
  return es
}

describe('SSE', () => {
  it('sends the same Motia frames as the WebSocket, with resume tokens, retry with jitter and no-buffering headers', async () => {
    const gw = await start()
    await rest(gw.url, 'PUT', '/streams/todo/s1/a', { title: 'first' })
    const sse = await sseRead(`${gw.url}/streams/todo/s1`)
    closers.push(sse.close)
    const ws = await rawClient(gw.wsUrl)
    closers.push(ws.close)
    ws.join('todo', 's1')
    expect(sse.response.status).toBe(200)
    expect(sse.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(sse.response.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(sse.response.headers.get('x-accel-buffering')).toBe('no')
    await until(() => sse.messages.length === 1 && ws.frames.length === 1, 'syncs')
    await rest(gw.url, 'PUT', '/streams/todo/s1/b', { title: 'second' })
    await rest(gw.url, 'PUT', '/streams/todo/s1/a', { title: 'first!' })
    await rest(gw.url, 'POST', '/streams/todo/s1/events', { type: 'note', data: [1, 2] })
    await rest(gw.url, 'DELETE', '/streams/todo/s1/b')
    await until(() => sse.messages.length === 5 && ws.frames.length === 5, 'changes on both transports')
    expect(sse.messages.slice(1).map((m) => m.frame)).toEqual(ws.frames.slice(1))
    // The syncs differ only in their timestamp (each is stamped with the group's last log entry it reflects).
    expect(sse.messages[0]!.frame.event).toEqual(ws.frames[0]!.event)
    expect(sse.retries).toHaveLength(1)
    expect(sse.retries[0]).toBeGreaterThanOrEqual(1000)
    expect(sse.retries[0]).toBeLessThan(2000)
    const seqs = sse.messages.map((m) => seqOf(m.id))
    expect(seqs).toEqual([1, 2, 3, 4, 5])
    expect(new Set(sse.messages.map((m) => epochOf(m.id))).size).toBe(1)
  })

  it('follows one item: its sync (null when missing) and only its changes', async () => {
    const gw = await start()
    const sse = await sseRead(`${gw.url}/streams/todo/s2/x`)
    closers.push(sse.close)
    await until(() => sse.messages.length === 1, 'sync')
    expect(sse.messages[0]!.frame).toMatchObject({ id: 'x', event: { type: 'sync', data: null } })
    await rest(gw.url, 'PUT', '/streams/todo/s2/other', { title: 'not mine' })
    await rest(gw.url, 'PUT', '/streams/todo/s2/x', { title: 'mine' })
    await until(() => sse.messages.length === 2, 'create')
    expect(sse.messages[1]!.frame).toMatchObject({ id: 'x', event: { type: 'create', data: { title: 'mine', id: 'x' } } })
  })

  it('resumes after the server cuts the stream mid-burst: exactly the missed events, no gap, no duplicate', async () => {
    const gw = await start({ sse: { maxLifetimeMs: 150, retryMs: 20 } })
    const es = eventSource(`${gw.url}/streams/chat/burst`)
    const received: Array<{ seq: number; frame: ReturnType<typeof JSON.parse> }> = []
    let opens = 0
    es.onopen = () => opens++
    es.onmessage = (m) => received.push({ seq: seqOf(m.lastEventId), frame: JSON.parse(m.data) })
    await until(() => received.length === 1, 'sync')
    // Keep writing until the server has cut the stream at least three times while the burst goes on.
    let written = 0
    const deadline = Date.now() + 10_000
    while ((written < 300 || opens < 4) && Date.now() < deadline) {
      await gw.server.streams.chat!.set('burst', `k${written % 10}`, { i: written })
      written++
      if (written % 10 === 0) await new Promise((r) => setTimeout(r, 5))
    }
    expect(opens).toBeGreaterThanOrEqual(4)
    await until(() => received.at(-1)?.seq === written, 'the last change')
    const changes = received.filter((r) => r.frame.event.type !== 'sync')
    expect(received.filter((r) => r.frame.event.type === 'sync')).toHaveLength(1)
    expect(changes.map((r) => r.seq)).toEqual(Array.from({ length: written }, (_, i) => i + 1))
    expect(changes.map((r) => r.frame.event.data.i)).toEqual(Array.from({ length: written }, (_, i) => i))
  })

  it('resumes from ?lastEventId= for a page that already holds state', async () => {
    const gw = await start()
    const first = await sseRead(`${gw.url}/streams/chat/q`)
    await until(() => first.messages.length === 1, 'sync')
    await gw.server.streams.chat!.set('q', 'a', { v: 1 })
    await until(() => first.messages.length === 2, 'create')
    first.close()
    const token = first.messages[1]!.id!
    await gw.server.streams.chat!.set('q', 'a', { v: 2 })
    await gw.server.streams.chat!.set('q', 'b', { v: 3 })
    const resumed = await sseRead(`${gw.url}/streams/chat/q?lastEventId=${encodeURIComponent(token)}`)
    closers.push(resumed.close)
    await until(() => resumed.messages.length === 2, 'the two missed changes')
    expect(resumed.messages.map((m) => [m.frame.event.type, m.frame.id, seqOf(m.id)])).toEqual([
      ['update', 'a', 2],
      ['create', 'b', 3],
    ])
  })

  it('gives a reset sync for a token the history no longer covers', async () => {
    const gw = await start()
    const first = await sseRead(`${gw.url}/streams/short/g`)
    await until(() => first.messages.length === 1, 'sync')
    first.close()
    for (let i = 0; i < 20; i++) await gw.server.streams.short!.set('g', `k${i % 3}`, { i })
    const stale = await sseRead(`${gw.url}/streams/short/g`, { 'last-event-id': first.messages[0]!.id! })
    closers.push(stale.close)
    await until(() => stale.messages.length === 1, 'reset sync')
    expect(stale.messages[0]!.frame.event).toMatchObject({ type: 'sync', reset: true })
    expect((stale.messages[0]!.frame.event.data as unknown[]).length).toBe(3)
    expect(seqOf(stale.messages[0]!.id)).toBe(20)
    // A token still covered replays without a sync.
    const fresh = await sseRead(`${gw.url}/streams/short/g`, { 'last-event-id': stale.messages[0]!.id!.replace(/\.20$/, '.17') })
    closers.push(fresh.close)
    await until(() => fresh.messages.length === 3, 'three missed changes')
    expect(fresh.messages.map((m) => seqOf(m.id))).toEqual([18, 19, 20])
  })

  it('gives a reset sync after a gateway restart (new epoch), and for a malformed Last-Event-ID', async () => {
    let gw = await start()
    await gw.server.streams.chat!.set('r', 'a', { v: 1 })
    const before = await sseRead(`${gw.url}/streams/chat/r`)
    await until(() => before.messages.length === 1, 'sync')
    const port = gw.port
    await gw.close()
    gateways.splice(gateways.indexOf(gw), 1)
    await before.done
    gw = await start({ port })
    await gw.server.streams.chat!.set('r', 'b', { v: 2 })
    const after = await sseRead(`${gw.url}/streams/chat/r`, { 'last-event-id': before.messages[0]!.id! })
    closers.push(after.close)
    await until(() => after.messages.length === 1, 'reset sync')
    expect(after.messages[0]!.frame.event).toEqual({ type: 'sync', data: [{ v: 2, id: 'b' }], reset: true })
    expect(epochOf(after.messages[0]!.id)).not.toBe(epochOf(before.messages[0]!.id))
    const junk = await sseRead(`${gw.url}/streams/chat/r`, { 'last-event-id': 'not-a-token' })
    closers.push(junk.close)
    await until(() => junk.messages.length === 1, 'sync for a malformed token')
    expect(junk.messages[0]!.frame.event).toMatchObject({ type: 'sync', reset: true })
  })

  it('sends heartbeat comments on an idle stream', async () => {
    const gw = await start({ sse: { heartbeatMs: 50 } })
    const sse = await sseRead(`${gw.url}/streams/chat/idle`)
    closers.push(sse.close)
    await until(() => sse.comments.filter((c) => c === 'heartbeat').length >= 3, 'three heartbeats')
    expect(sse.messages).toHaveLength(1)
  })

  it('multiplexes several subscriptions on one connection with one resume token covering all', async () => {
    const gw = await start()
    await gw.server.streams.chat!.set('m1', 'a', { v: 1 })
    const url = `${gw.url}/events?subscribe=chat/m1&subscribe=todo/m2/x&subscribe=${encodeURIComponent('chat/with%2Fslash')}`
    const sse = await sseRead(url)
    await until(() => sse.messages.length === 3, 'three syncs')
    expect(sse.messages.map((m) => [m.frame.streamName, m.frame.groupId, m.frame.id ?? null])).toEqual([
      ['chat', 'm1', null],
      ['todo', 'm2', 'x'],
      ['chat', 'with/slash', null],
    ])
    await gw.server.streams.todo!.set('m2', 'x', { title: 't' })
    await gw.server.streams.chat!.set('with/slash', 's', { v: 1 })
    await until(() => sse.messages.length === 5, 'two changes')
    const token = sse.messages[4]!.id!
    expect(token.split('.')).toHaveLength(4)
    sse.close()
    await gw.server.streams.chat!.set('m1', 'a', { v: 2 })
    await gw.server.streams.todo!.set('m2', 'y', { title: 'not followed' })
    await gw.server.streams.todo!.set('m2', 'x', { title: 't2' })
    const resumed = await sseRead(url, { 'last-event-id': token })
    closers.push(resumed.close)
    await until(() => resumed.messages.length === 2, 'the two missed changes')
    expect(resumed.messages.map((m) => [m.frame.groupId, m.frame.id, m.frame.event.type])).toEqual([
      ['m1', 'a', 'update'],
      ['m2', 'x', 'update'],
    ])
  })
})

describe('SSE bad input and limits', () => {
  it('answers an unknown stream with 404 JSON before any stream starts', async () => {
    const gw = await start()
    const sse = await sseRead(`${gw.url}/streams/nope/g`)
    expect(sse.response.status).toBe(404)
    expect(sse.response.headers.get('content-type')).toMatch(/json/)
    expect(await sse.response.json()).toMatchObject({ code: 'NOT_FOUND' })
    const mux = await sseRead(`${gw.url}/events?subscribe=chat/g&subscribe=nope/g`)
    expect(mux.response.status).toBe(404)
    const bad = await sseRead(`${gw.url}/events?subscribe=onlyonesegment`)
    expect(bad.response.status).toBe(400)
  })

  it('authenticates like every transport: 401 for a bad token (never anonymous), 403 from canAccess', async () => {
    const gw = await start({ auth: true })
    expect((await sseRead(`${gw.url}/streams/private/u1`, { authorization: 'Bearer bad' })).response.status).toBe(401)
    expect((await sseRead(`${gw.url}/streams/private/u1?authToken=bad`)).response.status).toBe(401)
    expect((await sseRead(`${gw.url}/streams/private/u1?authToken=u2`)).response.status).toBe(403)
    const ok = await sseRead(`${gw.url}/streams/private/u1`, { authorization: 'Bearer u1' })
    closers.push(ok.close)
    expect(ok.response.status).toBe(200)
    const viaQuery = await sseRead(`${gw.url}/streams/private/u1?authToken=u1`)
    closers.push(viaQuery.close)
    await until(() => ok.messages.length === 1 && viaQuery.messages.length === 1, 'syncs')
  })

  it('closes a reader that stops reading at the queue limit; others are unaffected', async () => {
    const gw = await start({ limits: { maxQueueBytes: 256 * 1024 } })
    const healthy = await sseRead(`${gw.url}/streams/chat/flood`)
    closers.push(healthy.close)
    const stalled = await fetch(`${gw.url}/streams/chat/flood`, { headers: { accept: 'text/event-stream' } })
    const reader = stalled.body!.getReader()
    await reader.read() // the response started; from now on nothing is read
    await until(() => healthy.messages.length === 1, 'healthy sync')
    const big = 'x'.repeat(16 * 1024)
    for (let i = 0; i < 400; i++) {
      await gw.server.streams.chat!.set('flood', `k${i % 4}`, { big, i })
      await new Promise((r) => setTimeout(r, 1))
    }
    await until(() => healthy.messages.length === 401, 'every change at the healthy reader')
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/streamgate_queue_limit_closes_total\{transport="sse"\} 1/)
    await until(async () => /streamgate_connections\{transport="sse"\} 1\n/.test(await (await fetch(`${gw.url}/metrics`)).text()), 'the stalled stream released')
    await reader.cancel().catch(() => {})
  })

  it('sets CORS headers for allowed origins only', async () => {
    const gw = await start({ corsOrigins: ['https://app.example'] })
    const allowed = await sseRead(`${gw.url}/streams/chat/c`, { origin: 'https://app.example' })
    closers.push(allowed.close)
    expect(allowed.response.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const other = await sseRead(`${gw.url}/streams/chat/c`, { origin: 'https://evil.example' })
    closers.push(other.close)
    expect(other.response.headers.get('access-control-allow-origin')).toBeNull()
    const restCall = await fetch(`${gw.url}/streams/chat/c`, { headers: { origin: 'https://app.example' } })
    expect(restCall.headers.get('access-control-allow-origin')).toBe('https://app.example')
  })

  it('ends open streams on shutdown', async () => {
    const gw = await start()
    const sse = await sseRead(`${gw.url}/streams/chat/bye`)
    await until(() => sse.messages.length === 1, 'sync')
    await gw.close()
    gateways.splice(gateways.indexOf(gw), 1)
    await sse.done
    expect(sse.ended).toBe(true)
  })
})
