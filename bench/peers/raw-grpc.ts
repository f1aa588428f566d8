import http from 'node:http'
import http2 from 'node:http2'
import { loadStreamService, toStruct } from '../lib/proto.ts'
import { exitOnSignals, handleWrite, PeerState, Rounds } from './common.ts'

/**
 * The ceiling for gRPC server streaming in Node: node:http2 serving streamgate.v1.StreamService/Subscribe
 * with nothing in between. Each update is encoded once into a whole gRPC envelope (flag, length, protobuf
 * message); the envelopes published in one event-loop turn are joined once per group, and that one buffer
 * is written to every stream of the group: one write per stream per turn, as streamgate aims to. A call
 * starts with a sync of the group's items and ends (grpc-status 0) only when the client leaves. Writes:
 * `PUT /streams/{s}/{g}/{id}` on WRITE_PORT (node:http).
 */
exitOnSignals()
type Item = Record<string, string>
const subscribe = loadStreamService().Subscribe!
const state = new PeerState()
const rooms = new Map<string, Set<http2.ServerHttp2Stream>>()
const rounds = new Rounds<http2.ServerHttp2Stream>((groupId) => rooms.get(groupId) ?? [], (stream, batch) => stream.write(batch))
let seq = 0

const envelope = (message: unknown) => {
  const bytes = subscribe.responseSerialize(message) as Buffer
  const framed = Buffer.allocUnsafe(5 + bytes.length)
  framed[0] = 0
  framed.writeUInt32BE(bytes.length, 1)
  bytes.copy(framed, 5)
  return framed
}

function publish(streamName: string, groupId: string, id: string, body: string) {
  const item = JSON.parse(state.set(groupId, id, body)) as Item
  if (!rooms.get(groupId)?.size) return
  const message = envelope({ streamName, groupId, id, timestamp: Date.now(), sequence: ++seq, update: { item: toStruct(item) } })
  rounds.add(groupId, message)
}

const server = http2.createServer()
server.on('stream', (stream, headers) => {
  stream.on('error', () => {})
  if (headers[':path'] !== '/streamgate.v1.StreamService/Subscribe') {
    stream.respond({ ':status': 404 }, { endStream: true })
    return
  }
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  stream.on('end', () => {
    const body = Buffer.concat(chunks)
    const { streamName, groupId } = subscribe.requestDeserialize(body.subarray(5, 5 + body.readUInt32BE(1))) as { streamName: string; groupId: string }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    let room = rooms.get(groupId)
    if (!room) rooms.set(groupId, (room = new Set()))
    room.add(stream)
    stream.write(envelope({ streamName, groupId, timestamp: Date.now(), sequence: seq, sync: { items: state.items(groupId).map((json) => toStruct(JSON.parse(json))) } }))
    stream.on('drain', () => rounds.drained(stream))
    stream.on('close', () => {
      rounds.forget(stream)
      room.delete(stream)
    })
  })
})

const writes = http.createServer((request, response) => {
  if (!handleWrite(request, response, publish)) response.writeHead(404).end()
})

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  writes.listen(Number(process.env.WRITE_PORT ?? 0), '127.0.0.1', () => {
    const port = server.address()
    const writePort = writes.address()
    console.log(`raw-grpc listening on ${typeof port === 'object' && port ? port.port : ''} writes on ${typeof writePort === 'object' && writePort ? writePort.port : ''}`)
  })
})
