import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { rawClient } from './helpers/raw-ws.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway
beforeAll(async () => {
  gw = await startGateway()
})
afterAll(() => gw.close())

describe('Motia WebSocket frames (spec section 15)', () => {
  it('answers a group join with one sync array, then pushes create/update/delete with full items', async () => {
    await rest(gw.url, 'PUT', '/streams/todo/g1/a', { title: 'first' })
    const c = await rawClient(gw.wsUrl + '/any/path?x=1')
    c.join('todo', 'g1')
    await until(() => c.frames.length === 1, 'sync')
    expect(c.frames[0]).toMatchObject({ streamName: 'todo', groupId: 'g1', event: { type: 'sync', data: [{ id: 'a', title: 'first', done: false }] } })
    expect(c.frames[0]).not.toHaveProperty('id')

    await rest(gw.url, 'PUT', '/streams/todo/g1/b', { title: 'second' })
    await rest(gw.url, 'PUT', '/streams/todo/g1/b', { title: 'second!' })
    await rest(gw.url, 'DELETE', '/streams/todo/g1/b')
    await rest(gw.url, 'DELETE', '/streams/todo/g1/b') // missing: 404, no frame
    await until(() => c.frames.length === 4, 'create, update, delete')
    expect(c.frames.slice(1).map((f) => [f.id, f.event.type, f.event.data])).toEqual([
      ['b', 'create', { title: 'second', done: false, id: 'b' }],
      ['b', 'update', { title: 'second!', done: false, id: 'b' }],
      ['b', 'delete', { title: 'second!', done: false, id: 'b' }],
    ])
    const stamps = c.frames.map((f) => f.timestamp)
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!)
    await new Promise((r) => setTimeout(r, 50))
    expect(c.frames).toHaveLength(4)
    c.close()
  })

  it('answers an item join with the item, or with null when it does not exist', async () => {
    await rest(gw.url, 'PUT', '/streams/todo/g2/a', { title: 'x' })
    const c = await rawClient(gw.wsUrl)
    c.join('todo', 'g2', 'a')
    c.join('todo', 'g2', 'missing')
    await until(() => c.frames.length === 2, 'two syncs')
    const byId = Object.fromEntries(c.frames.map((f) => [f.id, f.event]))
    expect(byId.a).toEqual({ type: 'sync', data: { title: 'x', done: false, id: 'a' } })
    expect(byId.missing).toEqual({ type: 'sync', data: null })
    c.close()
  })

  it('sends one copy per connection even with overlapping subscriptions', async () => {
    const c = await rawClient(gw.wsUrl)
    c.join('todo', 'g3')
    c.join('todo', 'g3', 'x')
    c.join('todo', 'g3', 'x')
    await until(() => c.frames.length === 3, 'a sync per join')
    await rest(gw.url, 'PUT', '/streams/todo/g3/x', { title: 'one' })
    await rest(gw.url, 'POST', '/streams/todo/g3/x/events', { type: 'ping', data: 1 })
    await until(() => c.frames.length === 5, 'create and event')
    await new Promise((r) => setTimeout(r, 50))
    expect(c.frames.slice(3).map((f) => f.event.type)).toEqual(['create', 'event'])
    c.close()
  })

  it('routes group-level custom events to group subscribers only, without an id', async () => {
    const group = await rawClient(gw.wsUrl)
    const item = await rawClient(gw.wsUrl)
    group.join('chat', 'room')
    item.join('chat', 'room', 'm1')
    await until(() => group.frames.length === 1 && item.frames.length === 1, 'syncs')
    await rest(gw.url, 'POST', '/streams/chat/room/events', { type: 'typing', data: { user: 'u1' } })
    await rest(gw.url, 'POST', '/streams/chat/room/m1/events', { type: 'reaction', data: '+1' })
    await until(() => group.frames.length === 3 && item.frames.length === 2, 'events')
    expect(group.frames[1]).toEqual({
      timestamp: expect.any(Number),
      streamName: 'chat',
      groupId: 'room',
      event: { type: 'event', event: { type: 'typing', data: { user: 'u1' } } },
      sequence: 1,
      resumeToken: expect.stringMatching(/^[\w-]+\.1$/),
    })
    expect(group.frames[2]).toMatchObject({ id: 'm1', event: { type: 'event', event: { type: 'reaction', data: '+1' } } })
    expect(item.frames[1]).toMatchObject({ id: 'm1', event: { type: 'event', event: { type: 'reaction' } } })
    group.close()
    item.close()
  })

  it('stops delivering after leave', async () => {
    const c = await rawClient(gw.wsUrl)
    const sub = c.join('todo', 'g4')
    await until(() => c.frames.length === 1, 'sync')
    c.leave(sub, 'todo', 'g4')
    const probe = await rawClient(gw.wsUrl)
    probe.join('todo', 'g4')
    await until(() => probe.frames.length === 1, 'probe sync')
    await rest(gw.url, 'PUT', '/streams/todo/g4/a', { title: 'after leave' })
    await until(() => probe.frames.length === 2, 'probe create')
    expect(c.frames).toHaveLength(1)
    c.close()
    probe.close()
  })

  it('gives every change a strictly larger timestamp than the sync, even many writes within one millisecond', async () => {
    const c = await rawClient(gw.wsUrl)
    c.join('chat', 'burst')
    await until(() => c.frames.length === 1, 'sync')
    await Promise.all(Array.from({ length: 200 }, (_, i) => gw.server.streams.chat!.set('burst', `i${i % 7}`, { n: i })))
    await until(() => c.frames.length === 201, 'all 200 changes')
    const stamps = c.frames.map((f) => f.timestamp)
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!)
    expect(c.frames.slice(1).filter((f) => f.event.type === 'create')).toHaveLength(7)
    c.close()
  })

  it('numbers every frame of a group with its log sequence, and resumes a join from a resumeToken', async () => {
    const c = await rawClient(gw.wsUrl)
    c.join('chat', 'resume')
    await until(() => c.frames.length === 1, 'sync')
    for (let i = 0; i < 3; i++) await gw.server.streams.chat!.set('resume', 'a', { i })
    await until(() => c.frames.length === 4, 'changes')
    expect(c.frames.map((f) => f.sequence)).toEqual([0, 1, 2, 3])
    const token = c.frames[1]!.resumeToken!
    c.close()
    const back = await rawClient(gw.wsUrl)
    back.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: 'resume', subscriptionId: 's', resumeToken: token } }))
    await until(() => back.frames.length === 2, 'the two missed changes, no sync')
    expect(back.frames.map((f) => [f.event.type, f.sequence])).toEqual([['update', 2], ['update', 3]])
    back.close()
    const foreign = await rawClient(gw.wsUrl)
    foreign.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: 'resume', subscriptionId: 't', resumeToken: 'elsewhere.1' } }))
    await until(() => foreign.frames.length === 1, 'a reset sync for a foreign token')
    expect(foreign.frames[0]!.event).toEqual({ type: 'sync', data: [{ i: 2, id: 'a' }], reset: true })
    foreign.close()
  })

  it("gives every sync each item's version by id (the REST ETag), outside the items", async () => {
    const chat = gw.server.streams.chat!
    await chat.set('versions', 'a', { n: 1 })
    await chat.set('versions', 'b', { n: 1 })
    await chat.send({ groupId: 'versions' }, { type: 'between', data: null })
    await chat.set('versions', 'a', { n: 2 })
    const etag = async (id: string) => (await rest(gw.url, 'GET', `/streams/chat/versions/${id}`)).headers.get('etag')
    expect([await etag('a'), await etag('b')]).toEqual(['"4"', '"2"'])
    const c = await rawClient(gw.wsUrl)
    c.join('chat', 'versions')
    c.join('chat', 'versions', 'a')
    c.join('chat', 'versions', 'missing')
    await until(() => c.frames.length === 3, 'three syncs')
    const byId = Object.fromEntries(c.frames.map((f) => [f.id ?? 'group', f]))
    expect(byId.group).toMatchObject({ sequence: 4, versions: { a: 4, b: 2 }, event: { type: 'sync', data: [{ id: 'a', n: 2 }, { id: 'b', n: 1 }] } })
    expect(byId.a).toMatchObject({ versions: { a: 4 }, event: { type: 'sync', data: { id: 'a', n: 2 } } })
    expect(byId.missing).toMatchObject({ versions: {}, event: { type: 'sync', data: null } })
    // A change carries no versions key: its version is its sequence.
    await chat.set('versions', 'b', { n: 2 })
    await until(() => c.frames.length === 4, 'the update')
    expect(c.frames[3]).toMatchObject({ sequence: 5, event: { type: 'update' } })
    expect(c.frames[3]).not.toHaveProperty('versions')
    c.close()
  })

  it('echoes the Authorization subprotocol, never the token', async () => {
    const c = await rawClient(gw.wsUrl, ['Authorization', 'secret-token'])
    expect(c.ws.protocol).toBe('Authorization')
    c.close()
  })
})

describe('bad input on the WebSocket', () => {
  it('ignores malformed frames and keeps the connection, the process and other subscribers', async () => {
    const bystander = await rawClient(gw.wsUrl)
    bystander.join('todo', 'bad')
    const c = await rawClient(gw.wsUrl)
    for (const junk of ['not json', '', '   ', '42', 'null', '[]', '{"type":"join"}', '{"type":"join","data":{"streamName":1}}', '{"type":"nope","data":{}}', '{"type":"leave","data":{"streamName":"todo","groupId":"bad"}}']) c.ws.send(junk)
    c.ws.send(Buffer.from([0xff, 0x00, 0x13]), { binary: true })
    c.ws.send(Buffer.from(JSON.stringify({ type: 'join', data: { streamName: 'todo', groupId: 'bad', subscriptionId: 'bin' } })), { binary: true })
    c.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'todo', groupId: 'bad', subscriptionId: 'big', padding: 'x'.repeat(1024 * 1024) } }))
    await until(() => c.frames.length === 2 && bystander.frames.length === 1, 'syncs after junk')
    expect(c.frames.every((f) => f.event.type === 'sync')).toBe(true)
    await rest(gw.url, 'PUT', '/streams/todo/bad/a', { title: 'still alive' })
    await until(() => c.frames.length === 3 && bystander.frames.length === 2, 'create after junk')
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
    c.close()
    bystander.close()
  })

  it('answers a join for an unknown stream with an error event and no subscription', async () => {
    const c = await rawClient(gw.wsUrl)
    c.join('nope', 'g')
    await until(() => c.frames.length === 1, 'error event')
    expect(c.frames[0]).toMatchObject({ streamName: 'nope', groupId: 'g', event: { type: 'event', event: { type: 'error', data: { code: 'NOT_FOUND' } } } })
    c.close()
  })

  it('closes an oversized frame with 1009 and a reason, and the gateway keeps serving', async () => {
    const small = await startGateway({ limits: { maxFrameBytes: 64 * 1024 } })
    const c = await rawClient(small.wsUrl)
    c.ws.send('x'.repeat(65 * 1024))
    const { code } = await c.closed
    expect(code).toBe(1009)
    const again = await rawClient(small.wsUrl)
    again.join('todo', 'g')
    await until(() => again.frames.length === 1, 'sync on a new connection')
    again.close()
    await small.close()
  })

  it('refuses joins past the per-connection subscription limit', async () => {
    const small = await startGateway({ limits: { maxSubscriptionsPerConnection: 2 } })
    const c = await rawClient(small.wsUrl)
    c.join('todo', 'a')
    c.join('todo', 'b')
    c.join('todo', 'c')
    await until(() => c.frames.length === 3, 'two syncs and a refusal')
    expect(c.frames.find((f) => f.groupId === 'c')?.event).toMatchObject({ type: 'event', event: { type: 'error', data: { code: 'RESOURCE_EXHAUSTED' } } })
    c.close()
    await small.close()
  })
})

describe('resuming several subscriptions of one group on one connection', () => {
  it('loses nothing: the first replays from its token, the others start from a sync', async () => {
    const first = await rawClient(gw.wsUrl)
    first.join('chat', 'two', 'a', 'sa')
    first.join('chat', 'two', 'b', 'sb')
    await until(() => first.frames.length === 2, 'syncs')
    await gw.server.streams.chat!.set('two', 'b', { v: 1 })
    await gw.server.streams.chat!.set('two', 'a', { v: 2 })
    await until(() => first.frames.length === 4, 'both updates')
    const tokenOf = (id: string) => first.frames.filter((f) => f.id === id).at(-1)!.resumeToken
    const [tokenA, tokenB] = [tokenOf('a'), tokenOf('b')]
    first.close()
    await gw.server.streams.chat!.set('two', 'b', { v: 3 })
    await gw.server.streams.chat!.set('two', 'a', { v: 4 })
    const back = await rawClient(gw.wsUrl)
    back.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: 'two', id: 'a', subscriptionId: 'sa', resumeToken: tokenA } }))
    back.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'chat', groupId: 'two', id: 'b', subscriptionId: 'sb', resumeToken: tokenB } }))
    await until(() => back.frames.some((f) => f.id === 'a') && back.frames.some((f) => f.id === 'b'), 'both subscriptions caught up')
    const last = (id: string) => back.frames.filter((f) => f.id === id).at(-1)!.event.data
    expect(last('a')).toEqual({ v: 4, id: 'a' })
    expect(last('b')).toEqual({ v: 3, id: 'b' })
    expect(back.frames.find((f) => f.id === 'b')!.event).toEqual({ type: 'sync', data: { v: 3, id: 'b' } })
    back.close()
  })
})
