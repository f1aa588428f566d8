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

/** How long one slice of a round may hold the event loop, as the gateway's hub (gateway/core/hub.ts). */
const SLICE_MS = 2

/**
 * The gateway's delivery policy, for the ceilings: the frames published since the last round are joined once
 * per group, and a round writes that one buffer to each of the group's connections, one write each. A round
 * is sliced (2 ms, then the event loop takes writes and reads before it goes on); what is published
 * meanwhile waits for the next round. A connection whose socket is past its high-water mark gets nothing
 * more until it drains; then what it missed leaves in one write. That is the gateway's backpressure too:
 * coalescing only per event-loop turn, writing into full sockets, would write smaller batches more often
 * than the gateway does, and lose to it on CPU per message (the server's, and the readers').
 */
export class Rounds<T> {
  private pending = new Map<string, Buffer[]>()
  private round: Iterator<[string, Buffer[]]> | undefined
  private current: { batch: Buffer; targets: Iterator<T> } | undefined
  private scheduled = false
  /** What connections past their high-water mark missed, until they drain. */
  private readonly held = new Map<T, Buffer[]>()

  /** `write` returns false when the connection's socket is past its high-water mark. */
  constructor(
    private readonly targets: (groupId: string) => Iterable<T>,
    private readonly write: (target: T, batch: Buffer) => boolean,
  ) {}

  /** The connection's socket drained: what it missed leaves in one write. */
  drained(target: T) {
    const missed = this.held.get(target)
    if (!missed) return
    this.held.delete(target)
    if (missed.length > 0 && !this.write(target, missed.length === 1 ? missed[0]! : Buffer.concat(missed))) this.held.set(target, [])
  }

  /** The connection is gone. */
  forget(target: T) {
    this.held.delete(target)
  }

  add(groupId: string, frame: Buffer) {
    let frames = this.pending.get(groupId)
    if (!frames) this.pending.set(groupId, (frames = []))
    frames.push(frame)
    this.schedule()
  }

  private schedule() {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.run)
  }

  private readonly run = () => {
    this.scheduled = false
    const deadline = performance.now() + SLICE_MS
    let steps = 0
    for (;;) {
      if (!this.current) {
        if (!this.round) {
          if (this.pending.size === 0) return
          this.round = this.pending.entries()
          this.pending = new Map()
        }
        const next = this.round.next()
        if (next.done) {
          this.round = undefined
          continue
        }
        const [groupId, frames] = next.value
        this.current = { batch: frames.length === 1 ? frames[0]! : Buffer.concat(frames), targets: this.targets(groupId)[Symbol.iterator]() }
      }
      for (let target = this.current.targets.next(); ; target = this.current.targets.next()) {
        if (target.done) {
          this.current = undefined
          break
        }
        const missed = this.held.get(target.value)
        if (missed) missed.push(this.current.batch)
        else if (!this.write(target.value, this.current.batch)) this.held.set(target.value, [])
        if ((++steps & 63) === 0 && performance.now() > deadline) return this.schedule()
      }
    }
  }
}
