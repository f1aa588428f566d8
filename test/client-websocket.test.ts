// @streamgate/client over WebSocket (Motia's frames) against a real gateway: the shared scenarios with
// Node's global WebSocket (undici), and the same with the `ws` package and the subprotocol token.
import { createServer } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { Stream } from '../clients/typescript/src/index.ts'
import type { Item } from '../clients/typescript/src/types.ts'
import { clientScenarios } from './helpers/client-scenarios.ts'
import { until } from './helpers/gateway.ts'
import { type MotiaReference, startMotiaReference } from './helpers/motia-reference.ts'

clientScenarios({ name: 'WebSocket', options: () => ({ transport: 'websocket' }) })
clientScenarios({
  name: 'WebSocket (ws package, token in the Authorization subprotocol)',
  options: () => ({ transport: 'websocket', websocket: { WebSocket: WebSocket as never, authVia: 'protocol' } }),
  only: ['bursts', 'resume', 'backoff', 'token', 'refusal'],
})

describe('@streamgate/client over WebSocket, beyond streamgate', () => {
  const cleanup: Array<() => unknown> = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  it("follows the real Motia 0.17 server (frames without sequence numbers are ordered by timestamp)", async () => {
    const ref: MotiaReference = await startMotiaReference({ streams: ['todo', 'chat'] })
    cleanup.push(() => ref.close())
    const stream = new Stream(ref.wsUrl, { websocket: { WebSocket: WebSocket as never } })
    cleanup.push(() => stream.close())
    const group = stream.subscribeGroup<Item>('chat', 'motia')
    const item = stream.subscribeItem<Item>('chat', 'motia', 'k1')
    const events: unknown[] = []
    group.onEvent('note', (data) => events.push(data))
    await until(() => group.synced, 'the group sync')
    for (let i = 0; i < 30; i++) await ref.set('chat', 'motia', `k${i % 4}`, { i })
    await ref.delete('chat', 'motia', 'k2')
    await ref.send('chat', 'motia', { type: 'note', data: { n: 1 } })
    const stored = (await ref.getGroup('chat', 'motia')) as Item[]
    const plain = (items: Item[]) => JSON.stringify(items.map(({ id, i }) => ({ id, i })).sort((a, b) => a.id.localeCompare(b.id)))
    await until(() => plain(group.getState()) === plain(stored) && events.length === 1, 'the group converges')
    await until(() => (item.getState() as Item | null)?.i === 29, 'the item converges')
  })

  it('reconnects (and joins again) when the gateway drops a subscription with a retryable error', async () => {
    // A stand-in server: answers the first join with an UNAVAILABLE refusal, the next with a sync.
    const http = createServer()
    const wss = new WebSocketServer({ server: http })
    let connections = 0
    wss.on('connection', (socket) => {
      const n = ++connections
      socket.on('message', (data) => {
        const join = JSON.parse(String(data)) as { data: { streamName: string; groupId: string } }
        const { streamName, groupId } = join.data
        const event =
          n === 1
            ? { type: 'event', event: { type: 'error', data: { code: 'UNAVAILABLE', message: 're-sync failed' } } }
            : { type: 'sync', data: [{ id: 'a' }] }
        socket.send(JSON.stringify({ timestamp: 1, streamName, groupId, ...(n === 1 ? {} : { sequence: 1, resumeToken: 'x.1' }), event }))
      })
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    cleanup.push(() => new Promise((resolve) => http.close(resolve)))
    cleanup.push(() => wss.close())
    const { port } = http.address() as { port: number }
    const stream = new Stream(`ws://127.0.0.1:${port}`, { backoff: { initialMs: 20, maxMs: 100 } })
    cleanup.push(() => stream.close())
    const sub = stream.subscribeGroup('chat', 'g')
    const refusals: unknown[] = []
    sub.onEvent('error', (data) => refusals.push(data))
    await until(() => sub.synced, 'joined again after the retryable refusal')
    expect(refusals).toEqual([{ code: 'UNAVAILABLE', message: 're-sync failed' }])
    expect(connections).toBe(2)
  })
  it('sends the token in the Authorization subprotocol pair when it is an HTTP token, else in ?authToken=', async () => {
    const http = createServer()
    const wss = new WebSocketServer({ server: http, handleProtocols: (offered) => (offered.has('Authorization') ? 'Authorization' : false) })
    const seen: Array<{ url?: string; protocol?: string }> = []
    wss.on('connection', (_socket, request) => seen.push({ url: request.url, protocol: request.headers['sec-websocket-protocol'] }))
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    cleanup.push(() => new Promise((resolve) => http.close(resolve)))
    cleanup.push(() => wss.close())
    const { port } = http.address() as { port: number }
    for (const token of ['eyJhbGciOi.eyJzdWIi.c2ln', 'cGFkZGVk==']) {
      const stream = new Stream(`ws://127.0.0.1:${port}`, { auth: token, websocket: { WebSocket: WebSocket as never, authVia: 'protocol' } })
      cleanup.push(() => stream.close())
      stream.subscribeGroup('chat', 'g')
      await until(() => seen.length === (token.endsWith('=') ? 2 : 1), 'the connection')
    }
    expect(seen).toEqual([
      { url: '/', protocol: 'Authorization,eyJhbGciOi.eyJzdWIi.c2ln' },
      { url: '/?authToken=cGFkZGVk%3D%3D', protocol: undefined },
    ])
  })
})
