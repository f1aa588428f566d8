import http from 'node:http'
import type { Socket } from 'node:net'
import { type WebSocket, WebSocketServer } from 'ws'
import { textFrame } from '../../gateway/transports/websocket/websocket-format.ts'
import { exitOnSignals, handleWrite, PeerState, syncFrame, Rounds, updateFrame } from './common.ts'

/**
 * The ceiling for WebSocket fan-out in Node: a `ws` server that frames each update once (a whole unmasked
 * text frame), joins the frames of one event-loop turn once per group and writes that one buffer into every
 * socket of the group: one write per socket per turn, nothing re-framed per socket. Clients speak Motia's
 * join frame; a join gets a sync of the group's items. Writes: `PUT /streams/{s}/{g}/{id}` on the same port.
 */
exitOnSignals()
const state = new PeerState()
const rooms = new Map<string, Set<WebSocket>>()
const TEXT = { binary: false }
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket
const rounds = new Rounds<WebSocket>((groupId) => rooms.get(groupId) ?? [], (ws, batch) => socketOf(ws).write(batch))

const server = http.createServer((request, response) => {
  const handled = handleWrite(request, response, (streamName, groupId, id, body) => {
    const item = state.set(groupId, id, body)
    if (!rooms.get(groupId)?.size) return
    rounds.add(groupId, textFrame(updateFrame(streamName, groupId, id, item)))
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
    if (joined.length === 1) socketOf(ws).on('drain', () => rounds.drained(ws))
    ws.send(syncFrame(streamName, groupId, state.items(groupId)), TEXT)
  })
  ws.on('error', () => {})
  ws.on('close', () => {
    rounds.forget(ws)
    for (const groupId of joined) rooms.get(groupId)?.delete(ws)
  })
})

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  console.log(`raw-ws listening on ${typeof address === 'object' && address ? address.port : ''}`)
})
