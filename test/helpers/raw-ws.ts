import { WebSocket } from 'ws'

export interface Frame {
  timestamp: number
  streamName: string
  groupId: string
  id?: string
  event: { type: string; data?: unknown; event?: { type: string; data: unknown } }
  sequence?: number
  resumeToken?: string
  /** How many changes of one item the frame stands for, when more than one (conflation). */
  conflated?: number
  /** A sync's item versions by id. */
  versions?: Record<string, number>
}

/** A bare `ws` client that records every frame, for asserting exact wire behaviour. */
export async function rawClient(url: string, protocols?: string[]) {
  const ws = new WebSocket(url, protocols)
  const frames: Frame[] = []
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  let n = 0
  return {
    ws,
    frames,
    closed,
    join(streamName: string, groupId: string, id?: string, subscriptionId = `sub-${++n}`) {
      ws.send(JSON.stringify({ type: 'join', data: { streamName, groupId, ...(id ? { id } : {}), subscriptionId } }))
      return subscriptionId
    },
    leave(subscriptionId: string, streamName: string, groupId: string, id?: string) {
      ws.send(JSON.stringify({ type: 'leave', data: { streamName, groupId, ...(id ? { id } : {}), subscriptionId } }))
    },
    close: () => ws.close(),
  }
}
