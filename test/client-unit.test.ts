// @streamgate/client (clients/typescript) without a gateway: the reducers, the reconnect policy, the SSE
// reader and resume position, routing, and the Connect message conversion.
import { create } from '@bufbuild/protobuf'
import { fromJson } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SubscribeResponseSchema } from '../clients/typescript/gen/streamgate/v1/stream_pb.ts'
import { backoffDelay } from '../clients/typescript/src/backoff.ts'
import { Channel } from '../clients/typescript/src/channel.ts'
import { frameOf } from '../clients/typescript/src/connect.ts'
import { Stream, type Transport, type TransportHost } from '../clients/typescript/src/index.ts'
import { Lifeline, type Link } from '../clients/typescript/src/lifeline.ts'
import { compositeToken, readEventStream } from '../clients/typescript/src/sse.ts'
import { compareBy } from '../clients/typescript/src/subscription.ts'
import type { Frame, StreamError } from '../clients/typescript/src/types.ts'
import { withAuthProtocol } from '../clients/typescript/src/websocket.ts'
import { manualNetwork } from './helpers/client-scenarios.ts'

const EPOCH = 'e1'
const frame = (seq: number | undefined, event: Frame['event'], extra: Partial<Frame> = {}): Frame => ({
  timestamp: 1000 + (seq ?? 0),
  streamName: 's',
  groupId: 'g',
  ...(seq === undefined ? {} : { sequence: seq, resumeToken: `${EPOCH}.${seq}` }),
  event,
  ...extra,
})
const item = (id: string, v: unknown = id) => ({ id, v })
const sync = (seq: number, data: unknown, reset = false) => frame(seq, { type: 'sync', data, ...(reset ? { reset } : {}) })
const change = (seq: number, type: 'create' | 'update' | 'delete', data: unknown) => frame(seq, { type, data }, { id: (data as { id: string }).id })
const custom = (seq: number | undefined, type: string, data: unknown, id?: string) => frame(seq, { type: 'event', event: { type, data } }, id ? { id } : {})

function channel(address = { streamName: 's', groupId: 'g' } as { streamName: string; groupId: string; id?: string }) {
  const errors: StreamError[] = []
  const events: Array<[string, unknown]> = []
  let changes = 0
  const c = new Channel(address, 'sub-1', (e) => errors.push(e))
  c.observers.add({ changed: () => changes++, event: (type, data) => events.push([type, data]) })
  return { c, errors, events, changes: () => changes }
}

describe('channel reducer: ordered by sequence', () => {
  it('drops what is not newer than what it applied, whatever the timestamps say', () => {
    const { c, changes } = channel()
    c.receive(sync(3, [item('a')]))
    c.receive(change(5, 'create', item('b')))
    c.receive(change(4, 'update', item('a', 'stale')))
    c.receive(change(5, 'create', item('b', 'duplicate')))
    // Same timestamp as the previous frame: Motia's reducers would drop it; the sequence is newer.
    c.receive({ ...change(6, 'update', item('a', 'a2')), timestamp: 1005 })
    expect(c.state()).toEqual([item('a', 'a2'), item('b')])
    expect(c.seq).toBe(6)
    expect(c.token).toBe('e1.6')
    expect(changes()).toBe(3)
  })

  it('replaces its state on every sync, a reset sync with lower sequences included', () => {
    const { c } = channel()
    c.receive(sync(10, [item('a'), item('b')]))
    c.receive(change(11, 'delete', item('a')))
    c.receive(sync(2, [item('z')], true))
    expect(c.state()).toEqual([item('z')])
    c.receive(change(3, 'update', item('z', 'z2')))
    expect(c.state()).toEqual([item('z', 'z2')])
  })

  it('ignores changes before its first sync (the sync covers them) but fires custom events', () => {
    const { c, events } = channel({ streamName: 's', groupId: 'g', id: 'a' })
    c.receive(change(4, 'update', item('a', 'early')))
    c.receive(custom(5, 'ping', 1, 'a'))
    expect(c.synced).toBe(false)
    expect(events).toEqual([['ping', 1]])
    c.receive(sync(4, item('a', 'synced')))
    c.receive(change(6, 'update', item('a', 'later')))
    expect(c.state()).toEqual(item('a', 'later'))
  })

  it('keeps group order: sync order, creates appended, updates in place (also of an unknown id), deletes removed', () => {
    const { c } = channel()
    c.receive(sync(1, [item('b'), item('a')]))
    c.receive(change(2, 'create', item('c')))
    c.receive(change(3, 'update', item('b', 'b2')))
    c.receive(change(4, 'update', item('d')))
    c.receive(change(5, 'delete', item('a')))
    expect(c.state()).toEqual([item('b', 'b2'), item('c'), item('d')])
  })

  it('an item is null when missing or deleted', () => {
    const { c } = channel({ streamName: 's', groupId: 'g', id: 'a' })
    c.receive(frame(1, { type: 'sync', data: null }, { id: 'a' }))
    expect(c.synced).toBe(true)
    expect(c.state()).toBeNull()
    c.receive(change(2, 'create', item('a')))
    expect(c.state()).toEqual(item('a'))
    c.receive(change(3, 'delete', item('a')))
    expect(c.state()).toBeNull()
  })

  it('fires custom events once, in log order', () => {
    const { c, events } = channel()
    c.receive(sync(1, []))
    c.receive(custom(2, 'typing', { u: 1 }))
    c.receive(custom(2, 'typing', { u: 1 }))
    c.receive(custom(3, 'typing', { u: 2 }))
    expect(events).toEqual([
      ['typing', { u: 1 }],
      ['typing', { u: 2 }],
    ])
  })

  it("without sequences (Motia's servers) orders by timestamp, keeping equal ones", () => {
    const { c } = channel()
    c.receive(frame(undefined, { type: 'sync', data: [] }, { timestamp: 10 }))
    c.receive(frame(undefined, { type: 'create', data: item('a') }, { timestamp: 10, id: 'a' }))
    c.receive(frame(undefined, { type: 'update', data: item('a', 'a2') }, { timestamp: 10, id: 'a' }))
    c.receive(frame(undefined, { type: 'update', data: item('a', 'old') }, { timestamp: 9, id: 'a' }))
    expect(c.state()).toEqual([item('a', 'a2')])
  })

  it("keeps each item's version: the sync's versions, then each change's sequence; a delete or a new sync drops it", () => {
    const { c } = channel()
    c.receive({ ...sync(4, [item('a'), item('b'), item('c')]), versions: { a: 4, b: 2, stray: 1 } })
    expect(['a', 'b', 'c', 'stray'].map((id) => c.versionOf(id))).toEqual([4, 2, undefined, undefined])
    const before = c.versionsNow()
    c.receive(change(5, 'update', item('b', 'b2')))
    c.receive(change(6, 'create', item('d')))
    c.receive(change(7, 'delete', item('a')))
    c.receive(change(6, 'update', item('d', 'stale')))
    expect(['a', 'b', 'd'].map((id) => c.versionOf(id))).toEqual([undefined, 5, 6])
    // A view taken earlier stays what it was; a new one follows.
    expect([...before]).toEqual([['a', 4], ['b', 2]])
    expect([...c.versionsNow()]).toEqual([['b', 5], ['d', 6]])
    c.receive(sync(9, [item('b')], true))
    expect(c.versionOf('b')).toBeUndefined()
    // Motia's servers send no versions and no sequences: versions stay unknown.
    const motia = channel().c
    motia.receive(frame(undefined, { type: 'sync', data: [item('a')] }))
    motia.receive(frame(undefined, { type: 'update', data: item('a', 'a2') }, { id: 'a', timestamp: 2000 }))
    expect(motia.versionOf('a')).toBeUndefined()
    const single = channel({ streamName: 's', groupId: 'g', id: 'a' }).c
    single.receive({ ...sync(3, item('a')), id: 'a', versions: { a: 3 } })
    single.receive({ ...change(8, 'update', item('a', 'a2')), id: 'a' })
    expect(single.versionOf('a')).toBe(8)
    // A conflated frame keeps the oldest merged change's place in the log: the item's version is not known.
    single.receive({ ...change(10, 'update', item('a', 'a3')), id: 'a', conflated: 3 })
    expect([single.versionOf('a'), single.state()]).toEqual([undefined, item('a', 'a3')])
  })

  it("turns a refusal into Motia's error event and parks the channel; garbage is reported, never thrown", () => {
    const { c, errors, events } = channel()
    c.receive(custom(undefined, 'error', { code: 'STREAM_ACCESS_DENIED', message: 'Access denied' }))
    expect(events).toEqual([['error', { code: 'STREAM_ACCESS_DENIED', message: 'Access denied' }]])
    expect(c.refused).toEqual({ code: 'STREAM_ACCESS_DENIED', message: 'Access denied' })
    expect(errors).toEqual([{ kind: 'refused', code: 'STREAM_ACCESS_DENIED', message: 'Access denied', address: { streamName: 's', groupId: 'g' } }])
    expect(() => c.receive({} as Frame)).not.toThrow()
    c.receive(sync(2, 'not an array'))
    expect(() => c.receive(frame(9, { type: 'update', data: null }))).not.toThrow()
    expect(errors.map((e) => e.kind)).toEqual(['refused', 'protocol', 'protocol', 'protocol'])
  })
})

describe('back-off', () => {
  it('is exponential with full jitter, capped', () => {
    const options = { initialMs: 100, maxMs: 1000 }
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, options, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelay(3, options, () => 0)).toBe(0)
    expect(backoffDelay(500, options, () => 0.5)).toBe(500)
  })
})

describe('lifeline: reconnects with back-off, offline and visibility aware, closes for good', () => {
  afterEach(() => vi.useRealTimers())

  function setup(options: { auth?: () => string | Promise<string> } = {}) {
    vi.useFakeTimers()
    const network = manualNetwork()
    const links: Array<{ token: string | undefined; link: Link }> = []
    const errors: StreamError[] = []
    const statuses: string[] = []
    const lifeline = new Lifeline((token, link) => links.push({ token, link }), {
      network,
      backoff: { initialMs: 100, maxMs: 800 },
      random: () => 0.5,
      auth: options.auth,
      onError: (e) => errors.push(e),
      onStatus: (s) => statuses.push(s),
    })
    return { lifeline, network, links, errors, statuses, last: () => links.at(-1)!.link }
  }

  it('waits 50, 100, 200, 400, 400 ms (random 0.5) between failed attempts, and starts over after data', async () => {
    const { lifeline, links, last } = setup()
    lifeline.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(links).toHaveLength(1)
    const waits: number[] = []
    for (let i = 0; i < 5; i++) {
      last().ended({ kind: 'connection', message: 'refused' })
      const before = links.length
      let waited = 0
      while (links.length === before) {
        await vi.advanceTimersByTimeAsync(10)
        waited += 10
      }
      waits.push(waited)
    }
    expect(waits).toEqual([50, 100, 200, 400, 400])
    // Opened but failed before any data (a 200 that errors at once): still backing off.
    last().opened()
    last().ended({ kind: 'auth', message: 'no' })
    await vi.advanceTimersByTimeAsync(399)
    expect(links).toHaveLength(6)
    await vi.advanceTimersByTimeAsync(1)
    expect(links).toHaveLength(7)
    // Data arrived: the next failure waits the first delay again.
    last().alive()
    last().ended({ kind: 'connection', message: 'cut' })
    await vi.advanceTimersByTimeAsync(50)
    expect(links).toHaveLength(8)
    lifeline.close()
  })

  it('makes no attempt while offline, and one at once when online', async () => {
    const { lifeline, network, links, last, statuses } = setup()
    lifeline.start()
    await vi.advanceTimersByTimeAsync(0)
    network.set('offline')
    last().ended({ kind: 'connection', message: 'network gone' })
    expect(statuses.at(-1)).toBe('offline')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(links).toHaveLength(1)
    network.set('online')
    expect(links).toHaveLength(2)
    // Going offline while waiting cancels the timer.
    last().ended({ kind: 'connection', message: 'x' })
    expect(statuses.at(-1)).toBe('waiting')
    network.set('offline')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(links).toHaveLength(2)
    lifeline.close()
  })

  it('tries at once when the page becomes visible while waiting', async () => {
    const { lifeline, network, links, last } = setup()
    lifeline.start()
    await vi.advanceTimersByTimeAsync(0)
    last().ended({ kind: 'connection', message: 'x' })
    network.set('hidden')
    network.set('visible')
    expect(links).toHaveLength(2)
    lifeline.close()
  })

  it('asks the token provider before every attempt; a failing provider is an auth error and a retry', async () => {
    let n = 0
    const { lifeline, links, errors, last } = setup({
      auth: () => {
        if (++n === 2) throw new Error('refresh failed')
        return `t${n}`
      },
    })
    lifeline.start()
    await vi.advanceTimersByTimeAsync(0)
    last().ended()
    await vi.advanceTimersByTimeAsync(1000)
    expect(links.map((l) => l.token)).toEqual(['t1', 't3'])
    expect(errors).toEqual([expect.objectContaining({ kind: 'auth', message: 'the token provider failed: refresh failed' })])
    lifeline.close()
  })

  it('close() cancels the pending retry and ignores the attempt in flight', async () => {
    const { lifeline, links, last, statuses } = setup()
    lifeline.start()
    await vi.advanceTimersByTimeAsync(0)
    const first = last()
    first.ended({ kind: 'connection', message: 'x' })
    lifeline.close()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(links).toHaveLength(1)
    expect(statuses.at(-1)).toBe('closed')
    expect(vi.getTimerCount()).toBe(0)
    lifeline.restart()
    lifeline.start()
    expect(links).toHaveLength(1)
  })
})

describe('SSE', () => {
  const stream = (chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk))
        controller.close()
      },
    })

  it('reads messages split anywhere, with LF, CRLF or CR, comments and multi-line data', async () => {
    const messages: string[] = []
    let chunks = 0
    await readEventStream(
      stream(['retry: 1000\n\n: heart', 'beat\n\nid: e.1\ndata: {"a"', ':1}\n\ndata: x\r', '\ndata: y\r\n\r', '\ndata:z\r\rda', 'ta: end\n\n']),
      (data) => messages.push(data),
      () => chunks++,
    )
    expect(messages).toEqual(['{"a":1}', 'x\ny', 'z', 'end'])
    expect(chunks).toBe(6)
  })

  const ch = (groupId: string, id: string | undefined, token: string | undefined) => {
    const c = new Channel(id ? { streamName: 's', groupId, id } : { streamName: 's', groupId }, 'x', () => {})
    if (token) c.receive({ ...sync(Number(token.split('.')[1]), id ? null : []), id, resumeToken: token })
    return c
  }

  it('resumes each group that has one channel with a state, and gets a sync for the others', () => {
    expect(compositeToken([ch('a', undefined, 'ep.4'), ch('b', 'x', 'ep.9')])).toBe('ep.4.9')
    // A new subscription, and two subscriptions of one group: positions beyond the log, so fresh syncs.
    expect(compositeToken([ch('a', undefined, 'ep.4'), ch('n', undefined, undefined), ch('b', 'x', 'ep.9'), ch('b', 'y', 'ep.9')])).toBe('ep.4.-.-')
    expect(compositeToken([ch('a', undefined, undefined)])).toBeUndefined()
    // Groups in different epochs (slots of a Redis Cluster) each resume in their own.
    expect(compositeToken([ch('a', undefined, 'ep.4'), ch('b', undefined, 'other.7')])).toBe('ep.4.other:7')
    expect(compositeToken([ch('n', undefined, undefined), ch('b', undefined, 'other.7')])).toBe('other.-.7')
  })
})

describe('details', () => {
  it('sorts by sortKey: numbers as numbers, strings by locale, missing values last, ties stable', () => {
    const rows = [{ id: '1', n: 10 }, { id: '2', n: 9 }, { id: '3' }, { id: '4', n: 9 }] as Array<{ id: string; n?: number }>
    expect([...rows].sort(compareBy('n')).map((r) => r.id)).toEqual(['2', '4', '1', '3'])
  })

  it('puts the token after an offered Authorization subprotocol, or offers the pair', () => {
    expect(withAuthProtocol(undefined, 't')).toEqual(['Authorization', 't'])
    expect(withAuthProtocol(['Authorization', 'old'], 't')).toEqual(['Authorization', 't'])
    expect(withAuthProtocol(['chat', 'Authorization'], 't')).toEqual(['chat', 'Authorization', 't'])
  })

  it('converts Connect SubscribeResponses to frames', () => {
    const group = new Channel({ streamName: 's', groupId: 'g' }, 'x', () => {})
    const single = new Channel({ streamName: 's', groupId: 'g', id: 'a' }, 'y', () => {})
    const response = (event: Parameters<typeof create<typeof SubscribeResponseSchema>>[1]) =>
      create(SubscribeResponseSchema, { streamName: 's', groupId: 'g', timestamp: 5n, sequence: 7n, resumeToken: 'e.7', ...event })
    expect(frameOf(response({ event: { case: 'sync', value: { items: [{ id: 'a' }], reset: true, versions: { a: 6n } } } }), group)).toEqual({
      timestamp: 5,
      streamName: 's',
      groupId: 'g',
      id: undefined,
      sequence: 7,
      resumeToken: 'e.7',
      versions: { a: 6 },
      event: { type: 'sync', data: [{ id: 'a' }], reset: true },
    })
    expect(frameOf(response({ id: 'a', event: { case: 'sync', value: { items: [] } } }), single)?.event).toEqual({ type: 'sync', data: null, reset: false })
    expect(frameOf(response({ id: 'a', event: { case: 'delete', value: { item: { id: 'a' } } } }), group)?.event).toEqual({ type: 'delete', data: { id: 'a' } })
    const data = fromJson(ValueSchema, { emoji: '+1', n: [1, null] })
    expect(frameOf(response({ event: { case: 'custom', value: { type: 'reaction', data } } }), group)?.event).toEqual({
      type: 'event',
      event: { type: 'reaction', data: { emoji: '+1', n: [1, null] } },
    })
  })
})

describe('Stream', () => {
  /** A transport that records what the stream asks and lets the test push frames. */
  function fakeTransport() {
    const calls: string[] = []
    let host: TransportHost | undefined
    const transport: Transport = {
      name: 'fake',
      connect(h) {
        host = h
        return {
          add: (c) => calls.push(`add ${c.key.replaceAll('\u0000', '/')}`),
          remove: (c) => calls.push(`remove ${c.key.replaceAll('\u0000', '/')}`),
          reconnect: () => calls.push('reconnect'),
          close: () => calls.push('close'),
        }
      },
    }
    return { transport, calls, push: (f: Frame) => host!.route(f) }
  }

  it("routes like Motia's client: item frames to the item and its group, syncs and refusals to their own address", () => {
    const fake = fakeTransport()
    const stream = new Stream('ws://x', { transport: fake.transport })
    const group = stream.subscribeGroup('s', 'g')
    const itemA = stream.subscribeItem('s', 'g', 'a')
    const groupEvents: unknown[] = []
    const itemEvents: unknown[] = []
    group.onEvent('error', (d) => groupEvents.push(d))
    itemA.onEvent('error', (d) => itemEvents.push(d))
    fake.push(sync(1, [item('a')]))
    fake.push({ ...sync(1, item('a', 'item sync')), id: 'a' })
    expect(group.getState()).toEqual([item('a')])
    expect(itemA.getState()).toEqual(item('a', 'item sync'))
    fake.push(change(2, 'update', item('a', 'a2')))
    expect(group.getState()).toEqual([item('a', 'a2')])
    expect(itemA.getState()).toEqual(item('a', 'a2'))
    fake.push(custom(undefined, 'error', { code: 'STREAM_ACCESS_DENIED', message: 'no' }, 'a'))
    expect(itemEvents).toHaveLength(1)
    expect(groupEvents).toHaveLength(0)
    stream.close()
    expect(fake.calls).toEqual(['add s/g', 'add s/g/a', 'close'])
  })

  it('shares one channel per address, and keeps it across a close-and-resubscribe in one tick', async () => {
    const fake = fakeTransport()
    const stream = new Stream('ws://x', { transport: fake.transport })
    const first = stream.subscribeGroup('s', 'g')
    fake.push(sync(1, [item('a')]))
    const second = stream.subscribeGroup<{ id: string; v: unknown }>('s', 'g', 'v')
    expect(second.synced).toBe(true)
    expect(second.getState()).toEqual([item('a')])
    first.close()
    second.close()
    const third = stream.subscribeGroup('s', 'g')
    await Promise.resolve()
    expect(third.getState()).toEqual([item('a')])
    third.close()
    await Promise.resolve()
    expect(fake.calls).toEqual(['add s/g', 'remove s/g'])
    stream.close()
    // After close: subscriptions are inert, nothing reaches the transport.
    const late = stream.subscribeGroup('s', 'g')
    expect(late.closed).toBe(true)
    expect(fake.calls).toEqual(['add s/g', 'remove s/g', 'close'])
  })

  it('reports a throwing listener instead of throwing into the transport', () => {
    const fake = fakeTransport()
    const errors: StreamError[] = []
    const stream = new Stream('ws://x', { transport: fake.transport, onError: (e) => errors.push(e) })
    const group = stream.subscribeGroup('s', 'g')
    const seen: unknown[] = []
    group.addChangeListener(() => {
      throw new Error('app bug')
    })
    group.addChangeListener((state) => seen.push(state))
    expect(() => fake.push(sync(1, [item('a')]))).not.toThrow()
    expect(seen).toEqual([[item('a')]])
    expect(errors).toEqual([expect.objectContaining({ kind: 'listener', message: 'a listener threw: app bug' })])
    stream.close()
  })
})
