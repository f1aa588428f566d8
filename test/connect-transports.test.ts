import { Code } from '@connectrpc/connect'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CONNECT_ES_TRANSPORTS,
  follow,
  fromGrpcStruct,
  fromGrpcValue,
  grpcJsClient,
  grpcUnary,
  hostPort,
  jsonValue,
  metric,
  streamClient,
  summary,
  toGrpcStruct,
  toGrpcValue,
} from './helpers/connect-clients.ts'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway
beforeAll(async () => {
  gw = await startGateway()
})
afterAll(async () => {
  // Every test ended its streams: the gateway holds no Connect subscription any more.
  await until(async () => (await metric(gw.url, 'streamgate_subscriptions', 'transport="connect"')) === 0, 'connect subscriptions released')
  await gw?.close()
})

const tokenOf = (epoch: string, seq: number) => `${epoch}.${seq}`

describe.each(Object.entries(CONNECT_ES_TRANSPORTS).map(([name, make], i) => ({ name, make, group: `transport-${i}` })))(
  'connect-es, $name',
  ({ make, group }) => {
    it('serves ListStreams, Set, Get, List, Send, Delete, and Subscribe streams every change in order', async () => {
      const client = streamClient(make(gw.url))
      const at = { streamName: 'todo', groupId: group }

      const { streams } = await client.listStreams({})
      expect(streams.map((s) => s.name).sort()).toEqual(['chat', 'legacy', 'private', 'python', 'todo'])

      const a1 = await client.set({ ...at, id: 'a', data: { title: 'first' } })
      expect(a1).toMatchObject({ created: true, item: { id: 'a', title: 'first', done: false } })
      const epoch = a1.resumeToken.split('.')[0]!
      expect(a1.resumeToken).toBe(tokenOf(epoch, 1))

      const groupCall = new AbortController()
      const itemCall = new AbortController()
      const groupEvents = follow(client.subscribe(at, { signal: groupCall.signal }))
      const itemEvents = follow(client.subscribe({ ...at, id: 'b' }, { signal: itemCall.signal }))
      await groupEvents.count(1, 'group sync')
      await itemEvents.count(1, 'item sync')

      const a2 = await client.set({ ...at, id: 'a', data: { title: 'second', done: true } })
      expect(a2).toMatchObject({ created: false, item: { id: 'a', title: 'second', done: true }, resumeToken: tokenOf(epoch, 2) })
      const b = await client.set({ ...at, id: 'b', data: { title: 'bee', n: 3 } })
      expect(b.created).toBe(true)
      const groupEvent = await client.send({ ...at, type: 'group-event', data: jsonValue({ n: 1, list: [true, null] }) })
      const itemEvent = await client.send({ ...at, id: 'b', type: 'item-event', data: jsonValue('hi') })
      expect(itemEvent.timestamp).toBeGreaterThan(groupEvent.timestamp)

      expect((await client.get({ ...at, id: 'a' })).item).toEqual({ id: 'a', title: 'second', done: true })
      expect((await client.list(at)).items).toEqual([a2.item, b.item])
      expect((await client.delete({ ...at, id: 'b' })).item).toEqual(b.item)
      expect((await client.list(at)).items).toEqual([a2.item])

      await groupEvents.count(6, 'every group event')
      await itemEvents.count(4, 'every event of item b')
      expect(groupEvents.received.map(summary)).toEqual([
        { kind: 'sync', id: '', sequence: 1, items: [a1.item], reset: false },
        { kind: 'update', id: 'a', sequence: 2, item: a2.item },
        { kind: 'create', id: 'b', sequence: 3, item: b.item },
        { kind: 'custom', id: '', sequence: 4, type: 'group-event', data: { n: 1, list: [true, null] } },
        { kind: 'custom', id: 'b', sequence: 5, type: 'item-event', data: 'hi' },
        { kind: 'delete', id: 'b', sequence: 6, item: b.item },
      ])
      expect(itemEvents.received.map(summary)).toEqual([
        { kind: 'sync', id: 'b', sequence: 1, items: [], reset: false },
        { kind: 'create', id: 'b', sequence: 3, item: b.item },
        { kind: 'custom', id: 'b', sequence: 5, type: 'item-event', data: 'hi' },
        { kind: 'delete', id: 'b', sequence: 6, item: b.item },
      ])
      for (const event of [...groupEvents.received, ...itemEvents.received]) {
        expect(event).toMatchObject({ streamName: 'todo', groupId: group, resumeToken: tokenOf(epoch, Number(event.sequence)) })
      }
      const stamps = groupEvents.received.map((e) => e.timestamp)
      expect(stamps.every((t, i) => i === 0 || t > stamps[i - 1]!)).toBe(true)
      expect(groupEvents.received[1]!.timestamp).toBe(a2.timestamp)
      expect(groupEvents.received[3]!.timestamp).toBe(groupEvent.timestamp)

      groupCall.abort()
      itemCall.abort()
      await Promise.all([groupEvents.done, itemEvents.done])
      expect(groupEvents.error?.code).toBe(Code.Canceled)
    })
  },
)

describe('@grpc/grpc-js with proto/ through proto-loader', () => {
  it('serves ListStreams, Set, Get, List, Send, Delete, and Subscribe streams every change in order', async () => {
    const client = grpcJsClient(hostPort(gw.url))
    const at = { streamName: 'todo', groupId: 'grpc-js' }
    try {
      const { streams } = await grpcUnary(client, 'ListStreams', {})
      expect(streams.map((s: { name: string }) => s.name).sort()).toEqual(['chat', 'legacy', 'private', 'python', 'todo'])

      const a1 = await grpcUnary(client, 'Set', { ...at, id: 'a', data: toGrpcStruct({ title: 'first' }) })
      expect(a1.created).toBe(true)
      expect(fromGrpcStruct(a1.item)).toEqual({ id: 'a', title: 'first', done: false })
      const epoch = a1.resumeToken.split('.')[0]

      const call = client.Subscribe!(at) as grpc.ClientReadableStream<any>
      const events: any[] = []
      call.on('data', (event) => events.push(event))
      const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve))
      call.on('error', () => {})
      await until(() => events.length === 1, 'sync')

      await grpcUnary(client, 'Set', { ...at, id: 'a', data: toGrpcStruct({ title: 'second' }) })
      await grpcUnary(client, 'Send', { ...at, type: 'note', data: toGrpcValue({ x: [1, 'two'] }) })
      expect(fromGrpcStruct((await grpcUnary(client, 'Get', { ...at, id: 'a' })).item)).toEqual({ id: 'a', title: 'second', done: false })
      expect((await grpcUnary(client, 'List', at)).items.map(fromGrpcStruct)).toEqual([{ id: 'a', title: 'second', done: false }])
      expect(fromGrpcStruct((await grpcUnary(client, 'Delete', { ...at, id: 'a' })).item)).toEqual({ id: 'a', title: 'second', done: false })

      await until(() => events.length === 4, 'every event')
      expect(
        events.map((e) => ({
          event: e.event,
          id: e.id,
          sequence: e.sequence,
          resumeToken: e.resumeToken,
          payload: e.event === 'sync' ? e.sync.items.map(fromGrpcStruct) : e.event === 'custom' ? [e.custom.type, fromGrpcValue(e.custom.data)] : fromGrpcStruct(e[e.event].item),
        })),
      ).toEqual([
        { event: 'sync', id: '', sequence: '1', resumeToken: `${epoch}.1`, payload: [{ id: 'a', title: 'first', done: false }] },
        { event: 'update', id: 'a', sequence: '2', resumeToken: `${epoch}.2`, payload: { id: 'a', title: 'second', done: false } },
        { event: 'custom', id: '', sequence: '3', resumeToken: `${epoch}.3`, payload: ['note', { x: [1, 'two'] }] },
        { event: 'delete', id: 'a', sequence: '4', resumeToken: `${epoch}.4`, payload: { id: 'a', title: 'second', done: false } },
      ])
      call.cancel()
      expect((await ended).code).toBe(grpc.status.CANCELLED)
    } finally {
      client.close()
    }
  })
})

describe('encode once, write many', () => {
  it('encodes a record once for every subscriber; the protobuf codec copies those bytes', async () => {
    const { protoFormat, preEncodedMessage } = await import('../gateway/transports/connect/messages.ts')
    const { deliveryOf } = await import('../gateway/core/delivery.ts')
    const { SubscribeResponseSchema } = await import('../gateway/gen/streamgate/v1/stream_pb.ts')
    const { toBinary, fromBinary } = await import('@bufbuild/protobuf')
    const record = { streamName: 'todo', groupId: 'g', seq: 7, timestamp: 1_700_000_000_123, epoch: 'e1', kind: 'update' as const, id: 'a', item: { id: 'a', title: 'x', tags: ['p', 'q'], n: 1.5 } }
    const bytes = deliveryOf(record).bytes(protoFormat)
    expect(deliveryOf(record).bytes(protoFormat)).toBe(bytes)
    const carrier = preEncodedMessage(bytes)
    expect(preEncodedMessage(deliveryOf(record).bytes(protoFormat))).toBe(carrier)
    expect(Buffer.from(toBinary(SubscribeResponseSchema, carrier))).toEqual(bytes)
    expect(fromBinary(SubscribeResponseSchema, bytes)).toMatchObject({ id: 'a', sequence: 7n, timestamp: 1_700_000_000_123n, resumeToken: 'e1.7', conflated: 0, event: { case: 'update', value: { item: record.item } } })
  })
})
