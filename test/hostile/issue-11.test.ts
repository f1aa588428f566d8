import { once } from 'node:events'
import net from 'node:net'
import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { follow, streamClient } from '../helpers/connect-clients.ts'
import { AUTH_CONFIG, until } from '../helpers/gateway.ts'
import { GatewayProcess, INSTRUMENTED_BIN } from '../helpers/gateway-process.ts'
import { nest } from '../helpers/hostile-inputs.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { UNARY_STREAMS } from '../../gateway/server.ts'
import { RawH2, SETTINGS } from '../helpers/raw-h2.ts'
import { subscribeMany } from '../helpers/raw-grpc.ts'
import { rawClient } from '../helpers/raw-ws.ts'
import type { TestRedis } from '../helpers/redis-server.ts'
import type { Watchdog } from '../helpers/watchdog.ts'
import { retainedBytes, watchGateway } from '../helpers/watched-gateway.ts'

/**
 * Issue 11, case by case, each as it was reproduced: against the gateway process, on 127.0.0.1, with a
 * watchdog on /healthz. Every test here failed on the main branch the issue was filed against.
 */

const KiB = 1024
const MiB = 1024 * KiB
const json = { 'content-type': 'application/json' }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The process's CPU seconds from /proc (utime + stime), to tell an idle process from a spinning one. */
const cpuSeconds = async (pid: number) => {
  const { readFile } = await import('node:fs/promises')
  const fields = (await readFile(`/proc/${pid}/stat`, 'latin1')).split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

describe('issue 11 on the memory store', () => {
  let gateway: GatewayProcess
  watchGateway({ args: ['--first-bytes-timeout-ms', '3000'] }, (w) => (gateway = w.gateway))

  it('a connection that sends "P" (or "PR") and nothing more costs no CPU, /healthz answers, it is closed at the deadline', async () => {
    const stalled = ['P', 'PR', 'PRI'].map((bytes) => {
      const socket = net.connect(gateway.port, '127.0.0.1', () => socket.write(bytes))
      socket.on('error', () => {})
      // Reading, so that the gateway's close is seen.
      socket.resume()
      return { socket, closed: once(socket, 'close') }
    })
    const before = await cpuSeconds(gateway.child.pid!)
    await sleep(2000)
    expect(await cpuSeconds(gateway.child.pid!)).toBeLessThan(before + 0.5)
    await Promise.all(stalled.map((s) => s.closed))
  })

  it('a custom event nested 150 levels deep is refused, and Connect and gRPC subscribers of the group keep receiving', async () => {
    const at = { streamName: 'todo', groupId: 'inbox' }
    const connect = follow(streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' })).subscribe(at))
    const grpc = follow(streamClient(createGrpcTransport({ baseUrl: gateway.url })).subscribe(at))
    await until(() => connect.received.length === 1 && grpc.received.length === 1, 'two syncs')
    const deep = await rawRequest(gateway.port, 'POST', '/streams/todo/inbox/events', json, JSON.stringify({ type: 'deep', data: nest(150, 'x') }))
    expect({ status: deep.status, code: deep.json?.code }).toEqual({ status: 400, code: 'INVALID_ARGUMENT' })
    expect((await rawRequest(gateway.port, 'POST', '/streams/todo/inbox/events', json, '{"type":"after","data":1}')).status).toBe(202)
    await until(() => connect.received.length === 2 && grpc.received.length === 2, 'the next event on both')
    expect([connect.received[1]!.event.case, grpc.received[1]!.event.case]).toEqual(['custom', 'custom'])
    expect(gateway.exited).toBe(false)
  })

  it('an item nested 60 levels deep is refused, and the group stays readable by every protobuf client', async () => {
    const deep = await rawRequest(gateway.port, 'PUT', '/streams/chat/deep/x', json, JSON.stringify({ deep: nest(59, 1) }))
    expect({ status: deep.status, code: deep.json?.code }).toEqual({ status: 400, code: 'INVALID_ARGUMENT' })
    expect((await rawRequest(gateway.port, 'PUT', '/streams/chat/deep/y', json, JSON.stringify({ deep: nest(31, 1) }))).status).toBe(201)
    for (const transport of [createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }), createGrpcTransport({ baseUrl: gateway.url })]) {
      const client = streamClient(transport)
      expect((await client.list({ streamName: 'chat', groupId: 'deep' })).items.map((i) => i.id)).toEqual(['y'])
      const sync = follow(client.subscribe({ streamName: 'chat', groupId: 'deep' }))
      await sync.count(1, 'a sync')
      expect(sync.error).toBeUndefined()
    }
  })

  it('200 joins of one 1 MB group on one WebSocket that does not read: /healthz keeps answering, the connection is closed as slow', async () => {
    await rawRequest(gateway.port, 'PUT', '/streams/chat/big/a', json, JSON.stringify({ text: 'b'.repeat(1000 * 1000) }))
    const slow = await rawClient(gateway.wsUrl)
    ;(slow.ws as unknown as { _socket: net.Socket })._socket.pause()
    for (let i = 0; i < 200; i++) slow.join('chat', 'big', undefined, `join-${i}`)
    const ws = await rawClient(gateway.wsUrl)
    ws.join('chat', 'small')
    await until(() => ws.frames.length === 1, 'another client served meanwhile')
    await until(async () => (await gateway.metric('streamgate_connections', 'transport="websocket"')) === 1, 'the slow connection closed', 20_000)
    ws.close()
  })
})

describe('issue 11: SIGTERM with stalled connections', () => {
  it('a process holding connections that sent "P" exits 0 on SIGTERM, at once', async () => {
    const gateway = await GatewayProcess.launch()
    const stalled = Array.from({ length: 20 }, (_, i) => {
      const socket = net.connect(gateway.port, '127.0.0.1', () => socket.write(i % 2 ? 'P' : 'PR'))
      socket.on('error', () => {})
      return socket
    })
    await sleep(300)
    const started = Date.now()
    expect(await gateway.stop('SIGTERM')).toBe(0)
    expect(Date.now() - started).toBeLessThan(3000)
    for (const socket of stalled) socket.destroy()
  })
})

describe('issue 11 on the connection limits', () => {
  let gateway: GatewayProcess
  watchGateway({ args: ['--max-subscriptions', '5'] }, (w) => (gateway = w.gateway))

  it('one h2c connection holds at most --max-subscriptions Subscribe streams, and its SETTINGS leave room for unary calls only', async () => {
    const h2 = await RawH2.connect(gateway.port)
    expect(h2.remoteSettings.get(SETTINGS.MAX_CONCURRENT_STREAMS)).toBe(5 + UNARY_STREAMS)
    h2.destroy()
    const many = await subscribeMany(gateway.port, 50)
    expect(many.served).toBeLessThanOrEqual(5)
    expect(many.refused).toBe(50 - many.served)
    expect(await gateway.metric('streamgate_subscriptions', 'transport="connect"')).toBeLessThanOrEqual(5)
    many.close()
  })
})

describe('issue 11 on Redis, with authentication and --cors-origin', () => {
  const STORE_DELAY_MS = 50
  let redis: TestRedis
  let gateway: GatewayProcess
  let watchdog: Watchdog
  const options = (redis: TestRedis | undefined) => ({
    bin: INSTRUMENTED_BIN,
    nodeArgs: ['--expose-gc'],
    args: ['--redis', redis!.url, '--config', AUTH_CONFIG, '--cors-origin', 'https://app.example'],
    env: { SLOW_STORE_MS: String(STORE_DELAY_MS) },
  })
  watchGateway(options, (w) => {
    ;({ gateway, watchdog } = w)
    redis = w.redis!
  }, true)

  const retained = () => retainedBytes(gateway, watchdog)
  const keysOf = async (group: string) => ((await redis.command('KEYS', '*')) as string[]).filter((k) => k.includes(group))

  it('100 SSE requests dropped 20 ms after they were sent (during setup) leave no session, no delivery and no channel', async () => {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const socket = net.connect(gateway.port, '127.0.0.1')
        socket.on('error', () => {})
        socket.write('GET /streams/chat/dropped HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
        await sleep(20)
        socket.destroy()
      }),
    )
    await until(async () => (await gateway.metric('streamgate_subscriptions', 'transport="sse"')) === 0, 'every SSE subscription released')
    expect(await gateway.metric('streamgate_connections', 'transport="sse"')).toBe(0)
    expect(((await redis.command('PUBSUB', 'CHANNELS', '*')) as string[]).filter((c) => c.includes('dropped'))).toEqual([])
    const frames = await gateway.metric('streamgate_frames_delivered_total', 'transport="sse"')
    await rawRequest(gateway.port, 'PUT', '/streams/chat/dropped/a', json, '{"v":1}')
    await sleep(300)
    expect(await gateway.metric('streamgate_frames_delivered_total', 'transport="sse"')).toBe(frames)
  })

  it('joins to never-written groups leave nothing behind: no key for names of 1 MiB, none for ten joins of one group', async () => {
    const before = await retained()
    const ws = await rawClient(gateway.wsUrl)
    for (let i = 0; i < 16; i++) ws.join('chat', `huge-${i}-${'n'.repeat(MiB)}`)
    await until(() => ws.frames.length === 16, 'sixteen refusals')
    expect(ws.frames.map((f) => (f.event.event?.data as { code: string }).code)).toEqual(Array(16).fill('INVALID_ARGUMENT'))
    ws.close()
    const joins = await Promise.all(Array.from({ length: 10 }, () => rawClient(gateway.wsUrl)))
    for (const client of joins) client.join('chat', 'unwritten')
    await until(() => joins.every((c) => c.frames.length === 1), 'ten syncs')
    for (const client of joins) client.close()
    await until(async () => (await gateway.metric('streamgate_connections', 'transport="websocket"')) === 0, 'every socket released')
    expect(await keysOf('huge-')).toEqual([])
    expect(await keysOf('unwritten')).toEqual([])
    const after = await retained()
    expect(after - before, `retained ${after - before} bytes`).toBeLessThan(MiB)
  })

  it("50 writes of a 1 MB item then a delete leave the group's history within its byte budget, not 80 MB", async () => {
    const before = await retained()
    const item = JSON.stringify({ text: 'h'.repeat(1000 * 1000) })
    for (let i = 0; i < 50; i++) await rawRequest(gateway.port, 'PUT', '/streams/chat/history/big', json, item)
    await rawRequest(gateway.port, 'DELETE', '/streams/chat/history/big')
    const growth = (await retained()) - before
    expect(growth, `retained ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(2 * 8 * MiB)
    const logBytes = Number(await redis.command('MEMORY', 'USAGE', (await keysOf('history')).find((k) => k.includes(':log:'))!))
    expect(logBytes).toBeLessThan(9 * MiB)
  })

  it('__proto__ and constructor keys are refused by Connect Set as by REST, and nothing is stored', async () => {
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    for (const data of ['{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":{"prototype":1}}']) {
      const refused = await connect.set({ streamName: 'chat', groupId: 'proto', id: 'p', data: JSON.parse(data) }).catch((e) => ConnectError.from(e))
      expect({ data, code: (refused as ConnectError).code }).toEqual({ data, code: Code.InvalidArgument })
      expect({ data, status: (await rawRequest(gateway.port, 'PUT', '/streams/chat/proto/p', json, data)).status }).toEqual({ data, status: 400 })
    }
    expect((await rawRequest(gateway.port, 'GET', '/streams/chat/proto')).json).toEqual([])
  })

  it('`Authorization: bearer <bad token>` (lowercase scheme) is refused with 401 on REST, WebSocket and Connect, not anonymous', async () => {
    expect((await rawRequest(gateway.port, 'GET', '/streams/chat/auth', { authorization: 'bearer bad' })).status).toBe(401)
    const socket = new WebSocket(gateway.wsUrl, { headers: { authorization: 'bearer bad' } })
    socket.on('error', () => {})
    expect((await once(socket, 'unexpected-response'))[1].statusCode).toBe(401)
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    const refused = await connect.list({ streamName: 'chat', groupId: 'auth' }, { headers: { authorization: 'bearer bad' } }).catch((e) => ConnectError.from(e))
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated)
  })

  it('a second lastEventId query parameter is a 400, not a 500', async () => {
    const answer = await rawRequest(gateway.port, 'GET', '/streams/chat/twice?lastEventId=a.1&lastEventId=a.2', { accept: 'text/event-stream' })
    expect({ status: answer.status, code: answer.json?.code }).toEqual({ status: 400, code: 'INVALID_ARGUMENT' })
  })

  it('?authToken=SECRET on an unknown path is neither logged nor echoed in the 404', async () => {
    const answer = await rawRequest(gateway.port, 'GET', '/unknown/path?authToken=SECRET-11')
    expect(answer.status).toBe(404)
    expect(answer.body).not.toContain('SECRET-11')
    expect(gateway.output()).not.toContain('SECRET-11')
  })

  it('names of 200 characters work over REST, WebSocket and Connect alike, and 300 are refused by all three', async () => {
    const connect = streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '2' }))
    const ws = await rawClient(gateway.wsUrl)
    for (const [length, accepted] of [[200, true], [300, false]] as const) {
      const name = 'n'.repeat(length)
      const rest = await rawRequest(gateway.port, 'PUT', `/streams/chat/${name}/${name}`, json, '{"v":1}')
      const viaConnect = await connect.get({ streamName: 'chat', groupId: name, id: name }).then(() => 'ok', (e) => Code[ConnectError.from(e).code])
      ws.join('chat', name)
      await until(() => ws.frames.some((f) => f.groupId === name), 'the join answered')
      const join = ws.frames.find((f) => f.groupId === name)!.event
      expect({ length, rest: rest.status, connect: viaConnect, ws: join.type === 'sync' ? 'sync' : (join.event?.data as { code: string }).code }).toEqual(
        accepted ? { length, rest: 201, connect: 'ok', ws: 'sync' } : { length, rest: 400, connect: 'InvalidArgument', ws: 'INVALID_ARGUMENT' },
      )
    }
    ws.close()
  })

  it('with --cors-origin set, a WebSocket upgrade from another Origin is refused with 403', async () => {
    const socket = new WebSocket(gateway.wsUrl, { origin: 'https://evil.example' })
    socket.on('error', () => {})
    expect((await once(socket, 'unexpected-response'))[1].statusCode).toBe(403)
  })

  it('DELETE with `Content-Type: application/json` and no body deletes', async () => {
    await rawRequest(gateway.port, 'PUT', '/streams/chat/del/a', json, '{"v":1}')
    expect((await rawRequest(gateway.port, 'DELETE', '/streams/chat/del/a', json)).status).toBe(200)
    expect((await rawRequest(gateway.port, 'GET', '/streams/chat/del/a')).status).toBe(404)
  })
})
