import http from 'node:http'
import { type WebSocket, WebSocketServer } from 'ws'
import { exitOnSignals, handleWrite, PeerState, syncFrame, updateFrame } from './common.ts'

/**
 * The ceiling for WebSocket fan-out in Node: a `ws` server that encodes each update once (one Buffer) and
 * `send`s the same bytes to every socket of the group. Clients speak Motia's join frame; a join gets a sync
 * of the group's items. Writes: `PUT /streams/{s}/{g}/{id}` on the same port.
 */
exitOnSignals()
const state = new PeerState()
const rooms = new Map<string, Set<WebSocket>>()
const TEXT = { binary: false }

const server = http.createServer((request, response) => {
  const handled = handleWrite(request, response, (streamName, groupId, id, body) => {
    const item = state.set(groupId, id, body)
    const room = rooms.get(groupId)
    if (!room) return
    const frame = Buffer.from(updateFrame(streamName, groupId, id, item))
    for (const ws of room) ws.send(frame, TEXT)
  })
  if (!handled) response.writeHead(404).end()
})

const wss = new WebSocketServer({ server, perMessageDeflate: false })
wss.on('connection', (ws) => {
  const joined: string[] = []
  ws.on('message', (data) => {
    let message: { type?: string; data?: { streamName?: string; groupId?: string } }
    try {
      message = JSON.parse(String(data))
    } catch {
      return
    }
    const streamName = message.data?.streamName
    const groupId = message.data?.groupId
    if (message.type !== 'join' || !streamName || !groupId) return
    let room = rooms.get(groupId)
    if (!room) rooms.set(groupId, (room = new Set()))
    room.add(ws)
    joined.push(groupId)
    ws.send(syncFrame(streamName, groupId, state.items(groupId)), TEXT)
  })
  ws.on('error', () => {})
  ws.on('close', () => {
    for (const groupId of joined) rooms.get(groupId)?.delete(ws)
  })
})

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  console.log(`raw-ws listening on ${typeof address === 'object' && address ? address.port : ''}`)
})
