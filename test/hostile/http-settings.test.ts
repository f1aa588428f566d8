import http2 from 'node:http2'
import net from 'node:net'
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node'
import { describe, expect, it } from 'vitest'
import { follow, streamClient } from '../helpers/connect-clients.ts'
import { until } from '../helpers/gateway.ts'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { http1Get, rawRequest } from '../helpers/http-clients.ts'
import { UNARY_STREAMS } from '../../gateway/server.ts'
import { RawH2, SETTINGS } from '../helpers/raw-h2.ts'
import { subscribeMany } from '../helpers/raw-grpc.ts'
import { rawClient } from '../helpers/raw-ws.ts'
import { sseRead } from '../helpers/sse.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * The shared port's HTTP/1.1 and HTTP/2 settings (gateway/http/http-settings.ts): each limit holds against
 * a peer that tries it, and none of them cuts a long-lived stream that is merely quiet.
 */

/** Opens a TCP connection, writes `bytes` in `pieces` spaced `everyMs` apart; resolves when the gateway closes it. */
function trickle(port: number, head: string, tail: string, everyMs: number): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    socket.setEncoding('latin1')
    socket.on('data', (d) => (answer += d))
    socket.on('error', () => {})
    socket.once('connect', () => {
      const started = Date.now()
      socket.write(head)
      let i = 0
      const timer = setInterval(() => socket.writable && i < tail.length && socket.write(tail[i++]!), everyMs)
      socket.once('close', () => {
        clearInterval(timer)
        resolve({ ms: Date.now() - started, answer })
      })
    })
  })
}

const closedAfterIdle = (socket: net.Socket) =>
  new Promise<number>((resolve) => {
    const started = Date.now()
    socket.once('close', () => resolve(Date.now() - started))
  })

describe('timeouts, header and stream limits', () => {
  const TIMEOUTS = { first: 500, headers: 500, request: 1000, idle: 700 }
  let gateway: GatewayProcess
  const args = [
    '--first-bytes-timeout-ms', String(TIMEOUTS.first), '--headers-timeout-ms', String(TIMEOUTS.headers),
    '--request-timeout-ms', String(TIMEOUTS.request), '--idle-timeout-ms', String(TIMEOUTS.idle),
    '--max-subscriptions', '5', '--max-header-bytes', '4096',
  ]
  watchGateway({ args }, (w) => (gateway = w.gateway))

  it('advertises the subscription limit plus room for unary calls as SETTINGS_MAX_CONCURRENT_STREAMS and the header limit as SETTINGS_MAX_HEADER_LIST_SIZE', async () => {
    const h2 = await RawH2.connect(gateway.port)
    expect(h2.remoteSettings.get(SETTINGS.MAX_CONCURRENT_STREAMS)).toBe(5 + UNARY_STREAMS)
    expect(h2.remoteSettings.get(SETTINGS.MAX_HEADER_LIST_SIZE)).toBe(4096)
    h2.destroy()
  })

  it('refuses subscriptions past the limit on one h2c session, and streams past the setting from a client that ignores it', async () => {
    const count = 5 + UNARY_STREAMS + 10
    const many = await subscribeMany(gateway.port, count)
    expect(many.served).toBeLessThanOrEqual(5)
    expect(many.refused).toBe(count - many.served)
    expect(await gateway.metric('streamgate_subscriptions', 'transport="connect"')).toBeLessThanOrEqual(5)
    many.close()
    await gateway.released(['connect'])
  })

  it('answers HTTP/1.1 headers past the limit with 431, and refuses an HTTP/2 header list past it', async () => {
    const http1 = await rawRequest(gateway.port, 'GET', '/healthz', { 'x-filler': 'x'.repeat(5000) })
    expect({ status: http1.status, body: http1.json }).toEqual({ status: 431, body: { code: 'PAYLOAD_TOO_LARGE', message: expect.any(String), details: [] } })
    const session = http2.connect(gateway.url)
    session.on('error', () => {})
    const request = session.request({ ':path': '/healthz', 'x-filler': 'x'.repeat(5000) })
    const outcome = await new Promise<string>((resolve) => {
      request.on('response', (headers) => resolve(String(headers[':status'])))
      request.on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? 'error'))
      request.on('close', () => resolve(`closed ${request.rstCode}`))
    })
    expect(outcome).toBe('431')
    session.destroy()
    expect(await http1Get(gateway.port, '/healthz')).toMatchObject({ status: 200 })
  })

  it('closes an HTTP/1.1 request whose headers trickle in past the headers timeout (slowloris)', async () => {
    const { ms, answer } = await trickle(gateway.port, 'GET /healthz HTTP/1.1\r\n', `Host: x\r\nX-Slow: ${'y'.repeat(100)}\r\n\r\n`, 50)
    expect(ms).toBeGreaterThanOrEqual(TIMEOUTS.headers - 50)
    expect(ms).toBeLessThan(TIMEOUTS.headers + 1500)
    expect(answer).toMatch(/^HTTP\/1\.1 408|^$/)
  })

  it('closes an HTTP/1.1 request whose body trickles in past the request timeout', async () => {
    const head = 'PUT /streams/chat/slow/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n'
    const { ms } = await trickle(gateway.port, head, `{"text":"${'z'.repeat(190)}"}`, 50)
    expect(ms).toBeGreaterThanOrEqual(TIMEOUTS.request - 50)
    expect(ms).toBeLessThan(TIMEOUTS.request + 1500)
    expect((await rawRequest(gateway.port, 'GET', '/streams/chat/slow/b')).status).toBe(404)
  })

  it('closes an idle HTTP/1.1 keep-alive connection and an HTTP/2 session without streams after the idle timeout', async () => {
    const socket = net.connect(gateway.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume()
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    const http1 = await closedAfterIdle(socket)
    const session = http2.connect(gateway.url)
    session.on('error', () => {})
    const h2Closed = new Promise<number>((resolve) => {
      const started = Date.now()
      session.once('close', () => resolve(Date.now() - started))
    })
    await new Promise<void>((resolve) => session.request({ ':path': '/healthz' }).on('data', () => {}).on('end', resolve))
    for (const ms of [http1, await h2Closed]) {
      expect(ms).toBeGreaterThanOrEqual(TIMEOUTS.idle - 50)
      expect(ms).toBeLessThan(TIMEOUTS.idle + 1500)
    }
  })

  it('never cuts a quiet long-lived stream: SSE, WebSocket, Connect over HTTP/1.1 and gRPC over HTTP/2 outlive every timeout', async () => {
    const at = { streamName: 'chat', groupId: 'quiet' }
    const sse = await sseRead(`${gateway.url}/streams/chat/quiet`)
    const ws = await rawClient(gateway.wsUrl)
    ws.join('chat', 'quiet')
    const connect = follow(streamClient(createConnectTransport({ baseUrl: gateway.url, httpVersion: '1.1' })).subscribe(at))
    const grpc = follow(streamClient(createGrpcTransport({ baseUrl: gateway.url })).subscribe(at))
    await until(() => sse.messages.length === 1 && ws.frames.length === 1 && connect.received.length === 1 && grpc.received.length === 1, 'four syncs')
    await new Promise((r) => setTimeout(r, 2 * Math.max(...Object.values(TIMEOUTS)) + 500))
    await rawRequest(gateway.port, 'PUT', '/streams/chat/quiet/late', { 'content-type': 'application/json' }, '{"text":"still here"}')
    await until(() => sse.messages.length === 2 && ws.frames.length === 2 && connect.received.length === 2 && grpc.received.length === 2, 'the late change on all four')
    expect([sse.messages[1]!.frame.event.type, ws.frames[1]!.event.type, connect.received[1]!.event.case, grpc.received[1]!.event.case]).toEqual(['create', 'create', 'create', 'create'])
    expect(connect.ended || grpc.ended).toBe(false)
    sse.close()
    ws.close()
  })
})

describe('the connection cap', () => {
  let gateway: GatewayProcess
  watchGateway({ args: ['--max-connections', '10'] }, (w) => (gateway = w.gateway))

  it('closes connections past --max-connections at once, counts them, and serves again when some close', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 20 }, () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(gateway.port, '127.0.0.1', () => resolve(socket))
          socket.on('error', () => {})
          socket.resume()
        }),
      ),
    )
    // The watchdog holds one connection; nine of these fit.
    await until(() => sockets.filter((s) => s.destroyed || s.readyState === 'closed').length === 11, 'eleven closed at once')
    for (const socket of sockets) socket.destroy()
    await until(async () => (await http1Get(gateway.port, '/healthz').catch(() => ({ status: 0 }))).status === 200, 'served again')
    expect(await gateway.metric('streamgate_connections_refused_total', 'reason="max_connections"')).toBe(11)
  })
})

describe('out of file descriptors', () => {
  let gateway: GatewayProcess
  // Fewer descriptors than the cap lets through: accept() fails with EMFILE before the cap is reached.
  watchGateway({ shellPrefix: 'ulimit -n 96;' }, (w) => (gateway = w.gateway))

  it('survives running out of file descriptors (libuv drops what it cannot accept), and serves again once connections close', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 150 }, () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(gateway.port, '127.0.0.1', () => resolve(socket))
          socket.on('error', () => resolve(socket))
          socket.resume()
        }),
      ),
    )
    // More connections than descriptors: the ones past the limit are closed by the gateway's side.
    await until(() => sockets.filter((s) => s.destroyed || s.readyState === 'closed').length > 50, 'connections dropped for want of descriptors')
    for (const socket of sockets) socket.destroy()
    await until(async () => (await http1Get(gateway.port, '/healthz').catch(() => ({ status: 0 }))).status === 200, 'served again')
    expect(gateway.exited).toBe(false)
  })
})
