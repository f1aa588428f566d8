import * as grpc from '@grpc/grpc-js'
import http from 'node:http'
import { loadStreamService, toStruct } from '../lib/proto.ts'
import { exitOnSignals, handleWrite, PeerState } from './common.ts'

/**
 * A plain @grpc/grpc-js broadcaster serving streamgate.v1.StreamService/Subscribe (and Set), what a gRPC
 * service in Node is usually written with. Each update is protobuf-encoded once and the same bytes are
 * written to every call of the group (the Subscribe method's serializer passes Buffers through), but
 * grpc-js frames each message for each call, one write per message. Not the ceiling: raw-grpc.ts is.
 * A call starts with a sync of the group's items. Writes: `PUT /streams/{s}/{g}/{id}` on WRITE_PORT
 * (node:http), or the unary Set.
 */
exitOnSignals()
type Item = Record<string, string>
const service = loadStreamService()
const subscribe = service.Subscribe!
const encode = (message: unknown) => subscribe.responseSerialize(message) as Buffer
const state = new PeerState()
const items = new Map<string, Map<string, Item>>()
const rooms = new Map<string, Set<grpc.ServerWritableStream<unknown, Buffer>>>()
let seq = 0

function publish(streamName: string, groupId: string, id: string, body: string) {
  const item = JSON.parse(state.set(groupId, id, body)) as Item
  let group = items.get(groupId)
  if (!group) items.set(groupId, (group = new Map()))
  group.set(id, item)
  const room = rooms.get(groupId)
  if (!room) return
  const message = encode({ streamName, groupId, id, timestamp: Date.now(), sequence: ++seq, update: { item: toStruct(item) } })
  for (const call of room) call.write(message)
}

const server = new grpc.Server()
server.addService({ ...service, Subscribe: { ...subscribe, responseSerialize: (buffer: Buffer) => buffer } }, {
  Subscribe(call: grpc.ServerWritableStream<{ streamName: string; groupId: string }, Buffer>) {
    const { streamName, groupId } = call.request
    let room = rooms.get(groupId)
    if (!room) rooms.set(groupId, (room = new Set()))
    room.add(call)
    call.write(encode({ streamName, groupId, timestamp: Date.now(), sequence: seq, sync: { items: [...(items.get(groupId)?.values() ?? [])].map(toStruct) } }))
    const leave = () => room.delete(call)
    call.on('cancelled', leave)
    call.on('close', leave)
    call.on('error', leave)
  },
  Set(call: grpc.ServerUnaryCall<{ streamName: string; groupId: string; id: string; data: { fields: Record<string, { stringValue?: string }> } }, unknown>, callback: grpc.sendUnaryData<unknown>) {
    const { streamName, groupId, id, data } = call.request
    const body = JSON.stringify(Object.fromEntries(Object.entries(data.fields).map(([k, v]) => [k, v.stringValue ?? null])))
    publish(streamName, groupId, id, body)
    callback(null, { created: false })
  },
})

const writes = http.createServer((request, response) => {
  if (!handleWrite(request, response, publish)) response.writeHead(404).end()
})

server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error
  writes.listen(Number(process.env.WRITE_PORT ?? 0), '127.0.0.1', () => {
    const address = writes.address()
    console.log(`grpc-js listening on ${port} writes on ${typeof address === 'object' && address ? address.port : ''}`)
  })
})
