import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { byId, catchUncaught, CLIENT_FLAVORS, type ClientFlavor, flavor as clientFlavor, type Item, MotiaClient, prng } from './helpers/motia-clients.ts'

/**
 * The real Motia client packages (node 0.17.6, browser 0.2.2, browser 0.17.14) against a real gateway: what a
 * Motia app would see. Every assertion is on client state (subscription state, change listeners, custom event
 * listeners) unless it says it reads the wire.
 */

let gw: TestGateway
beforeAll(async () => {
  gw = await startGateway()
})
afterAll(() => gw.close())

const slug = (f: ClientFlavor) => f.name.replace(/^@motiadev\/stream-client-/, '').replace(/[^a-z0-9]+/gi, '-')

/** Clients and gateways opened by the current test; clients are closed first, then the gateways. */
let opened: MotiaClient[] = []
let ownGateways: TestGateway[] = []
let uncaught: ReturnType<typeof catchUncaught>
function connect(flavor: ClientFlavor, address = gw.wsUrl, protocols?: string[]) {
  const client = new MotiaClient(flavor, address, protocols)
  opened.push(client)
  return client
}
beforeEach(() => {
  opened = []
  ownGateways = []
  // The Node client turns socket errors into uncaught exceptions (spec 6.6); a browser client's listener that
  // throws (e.g. on a malformed frame) ends up there too. Either way the test that caused it fails, below.
  uncaught = catchUncaught()
})
afterEach(async (context) => {
  // After a failure a client may never reopen (a refused reconnect stops Node 20's WebSocket and kills the Node
  // client's socket for good): close it as it is, and only report what the test did not already fail on.
  const failed = context.task.result?.state === 'fail'
  try {
    for (const client of opened.splice(0)) await client.close({ force: failed })
  } finally {
    for (const own of ownGateways.splice(0)) await own.close()
    const unexpected = uncaught.dispose().map((e) => String(e?.stack ?? e))
    if (failed) for (const error of unexpected) console.warn(`also uncaught during the failed test: ${error}`)
    else expect(unexpected, 'uncaught exceptions during the test').toEqual([])
  }
})

async function storedGroup(streamName: string, groupId: string): Promise<Item[]> {
  const { status, body } = await rest(gw.url, 'GET', `/streams/${streamName}/${groupId}`)
  expect(status).toBe(200)
  return body
}
async function storedItem(streamName: string, groupId: string, id: string): Promise<Item | null> {
  const { status, body } = await rest(gw.url, 'GET', `/streams/${streamName}/${groupId}/${id}`)
  expect([200, 404]).toContain(status)
  return status === 200 ? body : null
}

let nonce = 0
/**
 * Everything written to `groupId` before this call has reached `client`: a group-level custom event goes
 * through the group's log after those writes and the gateway delivers a group's records in log order.
 */
async function flush(target: TestGateway, streamName: string, groupId: string, received: unknown[]) {
  const marker = `flush-${++nonce}`
  await target.server.streams[streamName]!.send({ groupId }, { type: 'flush', data: marker })
  await until(() => received.includes(marker), `flush marker ${marker} on ${streamName}/${groupId}`)
}

/**
 * Everything `client` sent before has been processed: the gateway handles one socket's messages in order, so
 * the sync of a fresh join proves that an earlier `leave` took effect (the protocol has no acknowledgement).
 */
async function barrier(client: MotiaClient) {
  const probe = client.group('chat', `barrier-${++nonce}`)
  await until(() => probe.synced, 'barrier sync')
  probe.close()
}

describe.each(CLIENT_FLAVORS)('Motia client $name', (flavor) => {
  const tag = slug(flavor)

  describe.each(['todo', 'chat'])('on stream %s', (streamName) => {
    it('item and group subscriptions converge to the stored state after bursts of interleaved create/update/delete', async () => {
      const groupId = `converge-${tag}`
      const api = gw.server.streams[streamName]!
      const ids = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7']
      for (const id of ['i0', 'i1', 'i2']) expect((await rest(gw.url, 'PUT', `/streams/${streamName}/${groupId}/${id}`, { title: `seed ${id}` })).status).toBe(201)

      // One connection: a group subscription and item subscriptions on existing (i0-i2) and missing (i3-i5) items.
      const client = connect(flavor)
      const group = client.group(streamName, groupId)
      const flushes = group.listen('flush')
      const items = ids.slice(0, 6).map((id) => [id, client.item(streamName, groupId, id)] as const)
      await client.synced()
      expect(byId(group.state)).toEqual(byId(await storedGroup(streamName, groupId)))
      for (const [id, sub] of items) expect(sub.state, `item ${id} after sync`).toEqual(await storedItem(streamName, groupId, id))

      const converged = async (phase: string) => {
        await flush(gw, streamName, groupId, flushes)
        expect(byId(group.state), `${phase}: group state`).toEqual(byId(await storedGroup(streamName, groupId)))
        for (const [id, sub] of items) expect(sub.state, `${phase}: item ${id}`).toEqual(await storedItem(streamName, groupId, id))
      }

      const random = prng(streamName === 'todo' ? 1 : 2)
      let n = 0
      const pick = () => ids[Math.floor(random() * ids.length)]!
      const restOp = () => {
        const id = pick()
        return random() < 0.3 ? rest(gw.url, 'DELETE', `/streams/${streamName}/${groupId}/${id}`) : rest(gw.url, 'PUT', `/streams/${streamName}/${groupId}/${id}`, { title: `rest ${++n}`, n })
      }
      const localOp = () => {
        const id = pick()
        return random() < 0.3 ? api.delete(groupId, id) : api.set(groupId, id, { title: `local ${++n}`, n })
      }

      // 1. Concurrent REST requests.
      await Promise.all(Array.from({ length: 60 }, restOp))
      await converged('REST burst')

      // 2. A tight in-process loop: all writes are issued in one turn of the event loop, so hundreds of them
      //    land in the same millisecond. Each item subscription's ids also get delete/create/update/delete/create
      //    in a row, which a client only follows if no two frames share a timestamp (spec 6.3/6.4).
      await Promise.all([
        ...Array.from({ length: 300 }, localOp),
        ...['i0', 'i3'].flatMap((id) => [
          api.delete(groupId, id),
          api.set(groupId, id, { title: `again ${id}`, n: 1 }),
          api.set(groupId, id, { title: `again ${id}`, n: 2 }),
          api.delete(groupId, id),
          api.set(groupId, id, { title: `final ${id}`, n: 3 }),
        ]),
      ])
      await converged('in-process burst')

      // 3. Both at once.
      await Promise.all([...Array.from({ length: 40 }, restOp), ...Array.from({ length: 200 }, localOp)])
      await converged('mixed burst')
      expect(group.state.length).toBeGreaterThan(0)
    })
  })

  it('delivers group-level and item-level custom events exactly once per listener with a group and item subscriptions on one connection', async () => {
    const groupId = `events-${tag}`
    const client = connect(flavor)
    const group = client.group('chat', groupId)
    const m1 = client.item('chat', groupId, 'm1')
    const m2 = client.item('chat', groupId, 'm2')
    const got = {
      groupTyping: group.listen('typing'),
      groupReaction: group.listen('reaction'),
      groupFlush: group.listen('flush'),
      m1Typing: m1.listen('typing'),
      m1Reaction: m1.listen('reaction'),
      m1ReactionAgain: m1.listen('reaction'),
      m2Reaction: m2.listen('reaction'),
    }
    await client.synced()

    for (const i of [1, 2, 3]) expect((await rest(gw.url, 'POST', `/streams/chat/${groupId}/events`, { type: 'typing', data: { i } })).status).toBe(202)
    for (const i of [1, 2, 3]) expect((await rest(gw.url, 'POST', `/streams/chat/${groupId}/m1/events`, { type: 'reaction', data: `m1-${i}` })).status).toBe(202)
    for (const i of [1, 2]) expect((await rest(gw.url, 'POST', `/streams/chat/${groupId}/m2/events`, { type: 'reaction', data: `m2-${i}` })).status).toBe(202)
    // Twenty item events issued in one turn of the event loop (same millisecond).
    const api = gw.server.streams.chat!
    await Promise.all(Array.from({ length: 20 }, (_, i) => api.send({ groupId, id: 'm1' }, { type: 'reaction', data: `burst-${i}` })))
    await flush(gw, 'chat', groupId, got.groupFlush)

    const burst = Array.from({ length: 20 }, (_, i) => `burst-${i}`)
    expect(got.groupTyping).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }])
    expect(got.m1Typing, 'group-level events never reach item subscriptions').toEqual([])
    expect(got.m1Reaction).toEqual(['m1-1', 'm1-2', 'm1-3', ...burst])
    expect(got.m1ReactionAgain).toEqual(got.m1Reaction)
    expect(got.m2Reaction).toEqual(['m2-1', 'm2-2'])
    expect(got.groupReaction, 'item-level events reach the group subscription once each').toEqual(['m1-1', 'm1-2', 'm1-3', 'm2-1', 'm2-2', ...burst])
    expect(group.state, 'custom events are not state').toEqual([])
    expect([m1.state, m2.state]).toEqual([null, null])
  })

  it('leave (subscription.close()) stops that subscription while the others continue', async () => {
    const a = `leave-a-${tag}`
    const b = `leave-b-${tag}`
    for (const [g, id] of [[a, 'i1'], [a, 'i2'], [a, 'i3'], [b, 'j1'], [b, 'j2']] as const) await rest(gw.url, 'PUT', `/streams/todo/${g}/${id}`, { title: `${id} v1` })
    const client = connect(flavor)
    const groupA = client.group('todo', a)
    const i1 = client.item('todo', a, 'i1')
    const i2 = client.item('todo', a, 'i2')
    const groupB = client.group('todo', b)
    const j1 = client.item('todo', b, 'j1')
    const i2Flush = i2.listen('flush')
    const j1Flush = j1.listen('flush')
    await client.synced()
    const wire = client.tap()
    const v = (id: string, version: string) => ({ id, title: `${id} ${version}`, done: false })
    const itemFlush = async (g: string, id: string, received: unknown[]) => {
      const marker = `flush-${++nonce}`
      await gw.server.streams.todo!.send({ groupId: g, id }, { type: 'flush', data: marker })
      await until(() => received.includes(marker), `item flush ${marker}`)
    }

    // Leave group A: its item subscriptions i1 and i2 keep following their items, i3 is no longer followed.
    groupA.close()
    await barrier(client)
    for (const id of ['i1', 'i2', 'i3']) await rest(gw.url, 'PUT', `/streams/todo/${a}/${id}`, { title: `${id} v2` })
    await itemFlush(a, 'i2', i2Flush)
    expect(byId(groupA.state), 'group A state frozen at leave').toEqual([v('i1', 'v1'), v('i2', 'v1'), v('i3', 'v1')])
    expect([i1.state, i2.state]).toEqual([v('i1', 'v2'), v('i2', 'v2')])
    expect(wire.filter((f) => f.id === 'i3'), 'wire: no frame for an item only the left group covered').toEqual([])

    // Leave item i1: i2 continues.
    i1.close()
    await barrier(client)
    await rest(gw.url, 'PUT', `/streams/todo/${a}/i1`, { title: 'i1 v3' })
    await rest(gw.url, 'PUT', `/streams/todo/${a}/i2`, { title: 'i2 v3' })
    await itemFlush(a, 'i2', i2Flush)
    expect(i1.state).toEqual(v('i1', 'v2'))
    expect(i2.state).toEqual(v('i2', 'v3'))
    expect(wire.filter((f) => f.id === 'i1').map((f) => (f.event.data as Item).title), 'wire: i1 frames after its leave').toEqual(['i1 v2'])

    // Leave group B while its item subscription j1 stays: j1 continues, group B and j2 stop.
    groupB.close()
    await barrier(client)
    await rest(gw.url, 'PUT', `/streams/todo/${b}/j2`, { title: 'j2 v2' })
    await rest(gw.url, 'PUT', `/streams/todo/${b}/j1`, { title: 'j1 v2' })
    await rest(gw.url, 'POST', `/streams/todo/${b}/events`, { type: 'group-only', data: 1 })
    await itemFlush(b, 'j1', j1Flush)
    expect(j1.state).toEqual(v('j1', 'v2'))
    expect(byId(groupB.state)).toEqual([v('j1', 'v1'), v('j2', 'v1')])
    expect(wire.filter((f) => f.groupId === b && f.id !== 'j1'), 'wire: nothing for group B but j1').toEqual([])
  })

  it('re-syncs to the new state after a gateway restart on the same port', async () => {
    const first = await startGateway()
    ownGateways.push(first)
    const groupId = `restart-${tag}`
    const put = (target: TestGateway, id: string, title: string) => rest(target.url, 'PUT', `/streams/todo/${groupId}/${id}`, { title })
    for (const id of ['a', 'b', 'c']) await put(first, id, `${id} before`)
    const client = connect(flavor, first.wsUrl)
    const group = client.group('todo', groupId)
    const a = client.item('todo', groupId, 'a')
    const b = client.item('todo', groupId, 'b')
    const d = client.item('todo', groupId, 'd')
    const flushes = group.listen('flush')
    await client.synced()
    expect(byId(group.state).map((i) => i.title)).toEqual(['a before', 'b before', 'c before'])
    const changesBefore = group.changes

    // Restart: the new gateway's memory store is empty; write part of the new state before clients are back.
    // The clients try again exactly 2 s after the close frame; a refused attempt is fatal to the Node client
    // (spec 6.6) and, in Node 20, also ends the browser clients' retries (no 'close' after a failed handshake).
    const closing = Date.now()
    await first.close()
    const closeMs = Date.now() - closing
    ownGateways.splice(ownGateways.indexOf(first), 1)
    const second = await startGateway({ port: first.port })
    const restartMs = Date.now() - closing
    ownGateways.push(second)
    await put(second, 'a', 'a after')
    await put(second, 'd', 'd after')
    await until(
      () => client.open && group.changes > changesBefore,
      `reconnect and group re-sync (gateway.close() took ${closeMs} ms, listening again after ${restartMs} ms; clients reconnect once, 2000 ms after the close frame)`,
      6_000,
    )
    await until(() => a.state?.title === 'a after' && d.state?.title === 'd after', 'item re-sync')
    expect(byId(group.state)).toEqual([
      { id: 'a', title: 'a after', done: false },
      { id: 'd', title: 'd after', done: false },
    ])
    expect(b.state, 'b does not exist after the restart').toBeNull()

    // The re-sent joins are live: pushes after the reconnect arrive.
    await put(second, 'b', 'b new')
    await put(second, 'a', 'a later')
    await rest(second.url, 'DELETE', `/streams/todo/${groupId}/d`)
    await flush(second, 'todo', groupId, flushes)
    expect(byId(group.state).map((i) => i.title)).toEqual(['a later', 'b new'])
    expect([a.state?.title, b.state?.title, d.state]).toEqual(['a later', 'b new', null])
  })
})

describe('auth (startGateway({auth: true}))', () => {
  let authGw: TestGateway
  beforeAll(async () => {
    authGw = await startGateway({ auth: true })
  })
  afterAll(() => authGw.close())

  /** C2+ clients send the token as the subprotocol pair; 0.2.2 can only use the query string. */
  const as = (flavor: ClientFlavor, token: string) =>
    flavor.protocols ? connect(flavor, authGw.wsUrl, ['Authorization', token]) : connect(flavor, `${authGw.wsUrl}/?authToken=${token}`)

  it.each(CLIENT_FLAVORS)('$name follows its own private group and gets STREAM_ACCESS_DENIED for another', async (flavor) => {
    const user = `u1-${slug(flavor)}`
    const other = `u2-${slug(flavor)}`
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
    expect((await rest(authGw.url, 'PUT', `/streams/private/${user}/x`, { text: 'mine' }, bearer(user))).status).toBe(201)
    expect((await rest(authGw.url, 'PUT', `/streams/private/${other}/x`, { text: 'theirs' }, bearer(other))).status).toBe(201)

    const client = as(flavor, user)
    const mine = client.group('private', user)
    const mineItem = client.item('private', user, 'x')
    const theirs = client.group('private', other)
    const theirItem = client.item('private', other, 'x')
    const boom = client.group('private', 'boom')
    const errors = { theirs: theirs.listen('error'), theirItem: theirItem.listen('error'), boom: boom.listen('error'), mine: mine.listen('error') }
    const denied = { code: 'STREAM_ACCESS_DENIED', message: 'Access denied' }
    await until(() => mine.synced && mineItem.synced && errors.theirs.length >= 2 && errors.theirItem.length && errors.boom.length, 'syncs and refusals')
    expect(mine.state).toEqual([{ id: 'x', text: 'mine' }])
    expect(mineItem.state).toEqual({ id: 'x', text: 'mine' })
    // The item refusal carries the item's id, and Motia's client routes every non-sync item frame to the
    // group's listeners too (spec 6.1): the group subscription hears its own refusal and the item's.
    expect(errors.theirs).toEqual([denied, denied])
    expect(errors.theirItem).toEqual([denied])
    expect(errors.boom, 'a throwing canAccess is a single denial').toEqual([denied])

    // Writes to the other user's group never reach the refused subscriptions; the own group keeps flowing.
    await rest(authGw.url, 'PUT', `/streams/private/${other}/x`, { text: 'theirs 2' }, bearer(other))
    await rest(authGw.url, 'PUT', `/streams/private/${other}/y`, { text: 'theirs 3' }, bearer(other))
    await rest(authGw.url, 'PUT', `/streams/private/${user}/x`, { text: 'mine 2' }, bearer(user))
    await until(() => mineItem.state?.text === 'mine 2' && mine.state[0]?.text === 'mine 2', 'own update')
    expect([theirs.changes, theirItem.changes, boom.changes]).toEqual([0, 0, 0])
    expect([theirs.state, theirItem.state, boom.state]).toEqual([[], null, []])
    expect(errors.mine).toEqual([])
  })

  it('refuses a bad token with HTTP 401 at the handshake (raw ws)', async () => {
    const ws = new WebSocket(authGw.wsUrl, ['Authorization', 'bad'])
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => reject(new Error('upgrade accepted')))
      ws.on('error', reject)
    })
    expect(status).toBe(401)
    ws.terminate()
  })

  it('browser client 0.17 with a bad token: the handshake fails and no state ever arrives', async () => {
    const good = as(clientFlavor('@motiadev/stream-client-browser 0.17'), 'u-ok')
    const control = good.group('chat', 'auth-open')
    // Not in `opened`: it never opens, so the usual close-when-open teardown does not apply.
    const bad = new MotiaClient(clientFlavor('@motiadev/stream-client-browser 0.17'), authGw.wsUrl, ['Authorization', 'bad'])
    const seen: string[] = []
    bad.socket.addEventListener('open', () => seen.push('open'))
    bad.socket.addEventListener('error', () => seen.push('error'))
    const refused = bad.group('chat', 'auth-open')
    await authGw.server.streams.chat!.set('auth-open', 'm', { text: 'hello' })
    await until(() => seen.includes('error') && control.synced, 'the refused handshake and the control sync')
    await until(() => control.state.length === 1, 'the control client gets the write')
    expect(control.state).toEqual([{ id: 'm', text: 'hello' }])
    expect(seen).toEqual(['error'])
    expect(refused.changes).toBe(0)
    expect(refused.state).toEqual([])
    // Node 20's WebSocket fires no 'close' after a failed handshake, so this client does not retry; closing it
    // (not from inside its own error listener: undici re-enters it) keeps it from retrying where it would.
    bad.stream.close()
  })

  it('node client with a bad token: the 401 is an uncaught socket error (spec 6.6) and no state arrives', async () => {
    const bad = new MotiaClient(clientFlavor('@motiadev/stream-client-node'), authGw.wsUrl, ['Authorization', 'bad'])
    const refused = bad.group('chat', 'auth-open-node')
    await until(() => uncaught.errors.length > 0, 'the uncaught 401')
    expect(uncaught.take(/Unexpected server response: 401/)).toHaveLength(1)
    // ws never emits 'close' after the throwing 'error', so this client is dead (no reconnect) and safe to drop.
    bad.stream.close()
    expect(refused.changes).toBe(0)
    expect(refused.state).toEqual([])
  })
})
