import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * What the raw peers share: the latest items per group (so a join gets a real sync snapshot, as from
 * streamgate and Motia), Motia-shaped frames built by string concatenation (the body is never parsed), and
 * the write trigger `PUT /streams/{s}/{g}/{id}` whose body is the item.
 */
export class PeerState {
  private readonly groups = new Map<string, Map<string, string>>()

  /** Stores the item with its id and returns its JSON. */
  set(groupId: string, id: string, body: string): string {
    const trimmed = body.trim()
    const item = trimmed === '{}' ? `{"id":${JSON.stringify(id)}}` : `{"id":${JSON.stringify(id)},${trimmed.slice(1)}`
    let group = this.groups.get(groupId)
    if (!group) this.groups.set(groupId, (group = new Map()))
    group.set(id, item)
    return item
  }

  items(groupId: string): string[] {
    return [...(this.groups.get(groupId)?.values() ?? [])]
  }
}

export const updateFrame = (streamName: string, groupId: string, id: string, item: string) =>
  `{"timestamp":${Date.now()},"streamName":${JSON.stringify(streamName)},"groupId":${JSON.stringify(groupId)},"id":${JSON.stringify(id)},"event":{"type":"update","data":${item}}}`

export const syncFrame = (streamName: string, groupId: string, items: string[]) =>
  `{"timestamp":${Date.now()},"streamName":${JSON.stringify(streamName)},"groupId":${JSON.stringify(groupId)},"event":{"type":"sync","data":[${items.join(',')}]}}`

const WRITE = /^\/streams\/([^/]+)\/([^/]+)\/([^/?]+)$/

/** Handles the write trigger; returns false when the request is something else. */
export function handleWrite(request: IncomingMessage, response: ServerResponse, publish: (s: string, g: string, id: string, body: string) => void): boolean {
  const match = request.method === 'PUT' ? WRITE.exec(request.url ?? '') : null
  if (!match) return false
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    publish(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!), decodeURIComponent(match[3]!), Buffer.concat(chunks).toString())
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 })
    response.end('{}')
  })
  return true
}

/** SIGTERM/SIGINT exit normally, so `--cpu-prof` profiles get written. */
export function exitOnSignals() {
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))
}

/**
 * What the gateway does with a delivery round, for the ceilings: the frames published in one event-loop turn
 * are joined once per group, and `flush` gets that one buffer per group when the turn ends, to write to each
 * of the group's connections in one write.
 */
export class TurnBatches {
  private readonly turn = new Map<string, Buffer[]>()

  constructor(private readonly flush: (groupId: string, batch: Buffer) => void) {}

  add(groupId: string, frame: Buffer) {
    let frames = this.turn.get(groupId)
    if (!frames) {
      if (this.turn.size === 0) setImmediate(() => this.flushTurn())
      this.turn.set(groupId, (frames = []))
    }
    frames.push(frame)
  }

  private flushTurn() {
    for (const [groupId, frames] of this.turn) this.flush(groupId, frames.length === 1 ? frames[0]! : Buffer.concat(frames))
    this.turn.clear()
  }
}
