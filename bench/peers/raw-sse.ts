import http, { type ServerResponse } from 'node:http'
import { exitOnSignals, handleWrite, PeerState, syncFrame, Rounds, updateFrame } from './common.ts'

/**
 * The ceiling for SSE fan-out in Node: node:http, `GET /streams/{s}/{g}` with Accept: text/event-stream
 * opens a stream that starts with a sync message; each update is encoded once (`id:` + `data: <Motia frame>`),
 * the messages of one event-loop turn are joined once per group, and that one buffer is written to every
 * response of the group: one write (one chunk) per response per turn. Writes: `PUT /streams/{s}/{g}/{id}`.
 */
exitOnSignals()
const state = new PeerState()
const rooms = new Map<string, Set<ServerResponse>>()
const rounds = new Rounds<ServerResponse>((groupId) => rooms.get(groupId) ?? [], (res, batch) => res.write(batch))
const SUBSCRIBE = /^\/streams\/([^/]+)\/([^/?]+)$/
let seq = 0

const server = http.createServer((request, response) => {
  const handled = handleWrite(request, response, (streamName, groupId, id, body) => {
    const item = state.set(groupId, id, body)
    if (!rooms.get(groupId)?.size) return
    rounds.add(groupId, Buffer.from(`id: ${++seq}\ndata: ${updateFrame(streamName, groupId, id, item)}\n\n`))
  })
  if (handled) return
  const match = request.method === 'GET' ? SUBSCRIBE.exec(request.url ?? '') : null
  if (!match || !request.headers.accept?.includes('text/event-stream')) {
    response.writeHead(404).end()
    return
  }
  const streamName = decodeURIComponent(match[1]!)
  const groupId = decodeURIComponent(match[2]!)
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  response.write(`id: ${seq}\ndata: ${syncFrame(streamName, groupId, state.items(groupId))}\n\n`)
  let room = rooms.get(groupId)
  if (!room) rooms.set(groupId, (room = new Set()))
  room.add(response)
  response.on('drain', () => rounds.drained(response))
  response.on('close', () => {
    rounds.forget(response)
    room.delete(response)
  })
})

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  console.log(`raw-sse listening on ${typeof address === 'object' && address ? address.port : ''}`)
})
