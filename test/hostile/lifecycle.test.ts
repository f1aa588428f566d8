import http2 from 'node:http2'
import net from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type GatewayProcess, INSTRUMENTED_BIN, SLOW_CONFIG, SLOW_STREAMS } from '../helpers/gateway-process.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { GRPC_SUBSCRIBE_HEADERS, grpcSubscribeMessage } from '../helpers/raw-grpc.ts'
import type { TestRedis } from '../helpers/redis-server.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * A subscription's setup awaits, in turn: `authenticate`, the stream's `canAccess`, the store's history
 * (a resume token was given) and its snapshot. Each is slowed to D ms here (a config module, a stream
 * fixture, a delaying wrapper around the real store), and the connection is dropped in the middle of each,
 * and after, on every transport: nothing may stay behind. The gauges return to 0, no session still follows
 * the group (a write to it delivers nothing), and with Redis no channel is still subscribed and no key was
 * made by the reads.
 */

const D = 150
/** Every await of the setup, and after it: the middle of each step. */
const DROP_POINTS = [0.5, 1.5, 2.5, 3.5, 4.5].map((step) => Math.round(step * D))
/** A token from another epoch: the setup reads the history (no use), then the snapshot. */
const FOREIGN_TOKEN = 'elsewhere.1'

type Drop = (port: number, group: string, afterMs: number) => Promise<void>
type Transport = { label: 'sse' | 'websocket' | 'connect'; drop: Drop }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Opens a raw TCP connection, writes `request`, destroys it after `afterMs`. */
const tcpDrop = (request: (group: string) => Buffer | string): Drop => async (port, group, afterMs) => {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.resume()
  socket.write(request(group))
  await sleep(afterMs)
  socket.destroy()
}

/** A gRPC Subscribe on its own HTTP/2 session; after `afterMs` the session is destroyed, or only the stream cancelled. */
const grpcDrop = (cut: 'session' | 'stream'): Drop => async (port, group, afterMs) => {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  session.on('error', () => {})
  const stream = session.request(Object.fromEntries([...GRPC_SUBSCRIBE_HEADERS, ['authorization', 'Bearer u']]))
  stream.on('error', () => {})
  stream.resume()
  stream.end(grpcSubscribeMessage({ streamName: 'slow', groupId: group, resumeToken: FOREIGN_TOKEN }))
  await sleep(afterMs)
  if (cut === 'session') return void session.destroy()
  stream.close(http2.constants.NGHTTP2_CANCEL)
  // The session stays open while the gateway releases the stream.
  await sleep(5 * D)
  session.close()
}

const TRANSPORTS: Record<string, Transport> = {
  'SSE, one group': { label: 'sse', drop: tcpDrop((g) => `GET /streams/slow/${g} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: ${FOREIGN_TOKEN}\r\nAuthorization: Bearer u\r\n\r\n`) },
  'SSE, /events': {
    label: 'sse',
    drop: tcpDrop((g) => `GET /events?subscribe=slow%2F${g}&subscribe=slow%2F${g}%2Fitem HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer u\r\n\r\n`),
  },
  WebSocket: { label: 'websocket', drop: async (port, group, afterMs) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    let upgraded = false
    socket.on('data', (data) => {
      if (upgraded || !data.toString('latin1').startsWith('HTTP/1.1 101')) return
      upgraded = true
      // A masked text frame with the join (clients must mask).
      const join = Buffer.from(JSON.stringify({ type: 'join', data: { streamName: 'slow', groupId: group, subscriptionId: 's', resumeToken: FOREIGN_TOKEN } }))
      const head = join.length < 126 ? Buffer.from([0x81, 0x80 | join.length]) : Buffer.from([0x81, 0x80 | 126, join.length >> 8, join.length & 0xff])
      socket.write(Buffer.concat([head, Buffer.alloc(4), join]))
    })
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer u\r\n\r\n`)
    await sleep(afterMs)
    socket.destroy()
  } },
  'Connect, HTTP/1.1': {
    label: 'connect',
    drop: tcpDrop((g) => {
      const body = grpcSubscribeMessage({ streamName: 'slow', groupId: g, resumeToken: FOREIGN_TOKEN })
      return Buffer.concat([Buffer.from(`POST /streamgate.v1.StreamService/Subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+proto\r\nAuthorization: Bearer u\r\nContent-Length: ${body.length}\r\n\r\n`), body])
    }),
  },
  'gRPC, HTTP/2 (connection dropped)': { label: 'connect', drop: grpcDrop('session') },
  'gRPC, HTTP/2 (stream cancelled)': { label: 'connect', drop: grpcDrop('stream') },
}

function suite(name: string, withRedis: boolean) {
  describe(name, () => {
    let redis: TestRedis | undefined
    let gateway: GatewayProcess
    let round = 0
    const options = (redis: TestRedis | undefined) => ({
      bin: INSTRUMENTED_BIN,
      args: ['--streams', SLOW_STREAMS, '--config', SLOW_CONFIG, ...(redis ? ['--redis', redis.url] : [])],
      env: { SLOW_AUTHENTICATE_MS: String(D), SLOW_CAN_ACCESS_MS: String(D), SLOW_STORE_MS: String(D) },
    })
    watchGateway(options, (w) => ({ gateway, redis } = w), withRedis)

    /**
     * Nothing of the dropped connections is left: the transport's gauges at 0 (its own, so that one leak
     * fails its own tests only), no channel, no key, no delivery.
     */
    async function assertNothingLeft(label: Transport['label'], groups: string[]) {
      await gateway.released([label])
      if (redis) {
        const channels = (await redis.command('PUBSUB', 'CHANNELS', '*')) as string[]
        expect(channels.filter((c) => groups.some((g) => c.includes(g)))).toEqual([])
        const keys = (await redis.command('KEYS', '*')) as string[]
        expect(keys.filter((k) => groups.some((g) => k.includes(g)))).toEqual([])
      }
      const before = (await (await fetch(`${gateway.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('streamgate_frames_delivered_total'))
      for (const group of groups) {
        expect((await rawRequest(gateway.port, 'PUT', `/streams/slow/${group}/item`, { 'content-type': 'application/json', authorization: 'Bearer u' }, '{"after":"drop"}')).status).toBe(201)
      }
      await sleep(200)
      const after = (await (await fetch(`${gateway.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('streamgate_frames_delivered_total'))
      expect(after, 'frames delivered to the dropped connections').toEqual(before)
    }

    for (const [transport, { label, drop }] of Object.entries(TRANSPORTS)) {
      it(`${transport}: dropped during authenticate, canAccess, the history read, the snapshot read, or once live`, async () => {
        const groups = DROP_POINTS.map((ms) => `r${round++}-at-${ms}`)
        await Promise.all(DROP_POINTS.map((ms, i) => drop(gateway.port, groups[i]!, ms)))
        await assertNothingLeft(label, groups)
      })

      it(`${transport}: dropped at any moment, many at once`, async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 * D }), { minLength: 1, maxLength: 12 }), async (times) => {
            const groups = times.map(() => `r${round++}`)
            await Promise.all(times.map((ms, i) => drop(gateway.port, groups[i]!, ms)))
            await assertNothingLeft(label, groups)
          }),
          // A failure names the drop times; shrinking them says nothing more and takes the test's whole timeout.
          { numRuns: 2, endOnFailure: true },
        )
      })
    }
  })
}

suite('memory store', false)
suite('Redis store', true)
