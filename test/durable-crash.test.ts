import { afterEach, describe, expect, it } from 'vitest'
import { CliGateway } from './helpers/cli-process.ts'
import { rest, until } from './helpers/gateway.ts'
import { epochOf, seqOf, sseRead } from './helpers/sse.ts'

type Item = { id: string } & Record<string, unknown>

const gateways: CliGateway[] = []
afterEach(async () => {
  for (const gw of gateways.splice(0)) await gw.close()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One write over REST (`PUT`) or Connect (`Set`, JSON): true once the gateway acknowledged it. */
async function write(gw: CliGateway, via: 'rest' | 'connect', groupId: string, item: Item): Promise<boolean> {
  const { id, ...data } = item
  const response =
    via === 'rest'
      ? await fetch(`${gw.url}/streams/chat/${groupId}/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) })
      : await fetch(`${gw.url}/streamgate.v1.StreamService/Set`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ streamName: 'chat', groupId, id, data }),
        })
  await response.arrayBuffer()
  return response.ok
}

/** Where the group's log stands: the epoch and seq of a fresh sync's resume token. */
async function position(gw: CliGateway, groupId: string) {
  const sse = await sseRead(`${gw.url}/streams/chat/${groupId}`)
  await until(() => sse.messages.length > 0, 'the sync')
  sse.close()
  const token = sse.messages[0]!.id
  return { epoch: epochOf(token)!, seq: seqOf(token), items: sse.messages[0]!.frame.event.data as Item[] }
}

describe('kill -9 while writers write over REST and Connect', () => {
  it('keeps every acknowledged write; an unacknowledged one is whole or absent; the log holds exactly the items', async () => {
    const gw = await CliGateway.create()
    gateways.push(gw)
    await gw.start()
    const group = 'crash'
    const attempted = new Map<string, Item>()
    const acknowledged = new Set<string>()
    let stop = false
    const writer = async (via: 'rest' | 'connect', lane: number) => {
      for (let n = 0; !stop; n++) {
        const item: Item = { id: `${via}-${lane}-${n}`, via, n, pad: 'x'.repeat(200 + ((n * 37) % 400)) }
        attempted.set(item.id, item)
        try {
          if (await write(gw, via, group, item)) acknowledged.add(item.id)
        } catch {
          // The gateway went away before it answered (or is down): not acknowledged.
          await sleep(25)
        }
      }
    }
    const writers = [0, 1, 2].flatMap((lane) => [writer('rest', lane), writer('connect', lane)])
    const restarts = 4
    for (let k = 0; k < restarts; k++) {
      await until(() => acknowledged.size >= (k + 1) * 40, 'acknowledged writes before the next kill', 20_000)
      await sleep(50 + ((k * 97) % 200))
      await gw.kill()
      await sleep(100)
      await gw.start()
    }
    const before = acknowledged.size
    await until(() => acknowledged.size >= before + 40, 'writes after the last restart', 20_000)
    stop = true
    await Promise.all(writers)

    const { epoch, seq, items } = await position(gw, group)
    const present = new Map(items.map((item) => [item.id, item]))
    for (const id of acknowledged) expect(present.get(id), `acknowledged ${id}`).toEqual(attempted.get(id))
    for (const [id, item] of present) expect(item, `present ${id}`).toEqual(attempted.get(id))
    // Every write is a create of a new id: one log entry per item, no entry without its item.
    expect(seq).toBe(present.size)
    expect(acknowledged.size).toBeGreaterThan(restarts * 40)
    expect(attempted.size).toBeGreaterThanOrEqual(present.size)

    // The history's creates are exactly the items, in log order, across all restarts (one epoch).
    const replayed = await sseRead(`${gw.url}/streams/chat/${group}?lastEventId=${encodeURIComponent(`${epoch}.${Math.max(0, seq - 1000)}`)}`)
    await until(() => replayed.messages.length >= Math.min(seq, 1000), 'the replay')
    replayed.close()
    expect(replayed.messages.some((m) => m.frame.event.type === 'sync')).toBe(false)
    expect(replayed.messages.map((m) => seqOf(m.id))).toEqual(Array.from({ length: Math.min(seq, 1000) }, (_, i) => seq - Math.min(seq, 1000) + i + 1))
    for (const { frame } of replayed.messages) {
      expect(frame.event.type).toBe('create')
      expect(frame.event.data).toEqual(present.get((frame.event.data as Item).id))
    }
    const timestamps = replayed.messages.map((m) => m.frame.timestamp)
    expect(timestamps.every((t, i) => i === 0 || t > timestamps[i - 1]!)).toBe(true)
    expect((await rest(gw.url, 'GET', `/streams/chat/${group}`)).body).toHaveLength(present.size)
  }, 120_000)
})
