import { writeFileSync, mkdtempSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayProcess } from '../helpers/gateway-process.ts'
import { type Answer, http1Get, http2Get } from '../helpers/http-clients.ts'
import { firstFlight, SplitProxy } from '../helpers/split-proxy.ts'
import { selfSignedCertificate } from '../helpers/tls.ts'
import { watchGateway } from '../helpers/watched-gateway.ts'

/**
 * The first bytes of a connection decide what serves it (HTTP/1.1, h2c, TLS). Whatever a peer sends there,
 * split at any offset, stalled, or never finished, the gateway answers everyone else in time, serves the
 * request once it is complete, and closes the connections that never complete within their deadline.
 */

// Short enough for a quick test, long enough that a loaded machine completes every honest handshake in time.
const DEADLINE_MS = 1000
const TIMEOUTS = ['--first-bytes-timeout-ms', String(DEADLINE_MS), '--headers-timeout-ms', String(DEADLINE_MS), '--request-timeout-ms', '2000', '--idle-timeout-ms', '1500']
/** The longest any of those lets a stalled connection live (idle, then the headers timeout), and some slack. */
const CLOSED_WITHIN_MS = 1500 + 1000 + 1000
const OK: Answer = { status: 200, body: '{"status":"ok"}' }

type Client = (port: number) => Promise<Answer>

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work))
}

/**
 * Sends `bytes` and nothing more; resolves with how long the gateway took to close the connection, timed
 * from before connecting, so never shorter than the gateway's own timer.
 */
function stallAfter(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = net.connect(port, '127.0.0.1', () => {
      if (bytes.length > 0) socket.write(bytes)
    })
    socket.once('close', () => resolve(Date.now() - started))
    socket.on('error', () => {})
    socket.resume()
  })
}

function suite(name: string, options: { tls: boolean; clients: Record<string, Client> }) {
  describe(name, () => {
    let gateway: GatewayProcess
    let proxy: SplitProxy
    const flights: Record<string, Buffer> = {}

    const launch = () => {
      if (!options.tls) return { args: TIMEOUTS }
      const dir = mkdtempSync(join(tmpdir(), 'streamgate-first-bytes-'))
      const { cert, key } = selfSignedCertificate()
      writeFileSync(join(dir, 'cert.pem'), cert)
      writeFileSync(join(dir, 'key.pem'), key)
      return { args: [...TIMEOUTS, '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')] }
    }
    watchGateway(launch, (w) => (gateway = w.gateway))
    beforeAll(async () => {
      proxy = await SplitProxy.start(gateway.port)
      for (const [client, run] of Object.entries(options.clients)) flights[client] = await firstFlight((port) => void run(port).catch(() => {}))
    })
    afterAll(() => proxy?.close())

    for (const [client, run] of Object.entries(options.clients)) {
      it(`${client}: served when its first bytes arrive split at any offset, with a stall at the cut`, async () => {
        const offsets = Array.from({ length: flights[client]!.length - 1 }, (_, i) => i + 1)
        expect(offsets.length).toBeGreaterThan(20)
        await inBatches(offsets, 16, async (cut) => {
          proxy.next({ cuts: [cut], stallMs: 50 })
          const answer = await run(proxy.port).catch((error: Error) => new Error(`cut at byte ${cut}: ${error.message}`))
          expect(answer, `cut at byte ${cut}`).toEqual(OK)
        })
      })

      it(`${client}: served when its first bytes arrive in any number of pieces with stalls between them`, async () => {
        const length = flights[client]!.length
        await fc.assert(
          fc.asyncProperty(
            fc.uniqueArray(fc.integer({ min: 1, max: length - 1 }), { minLength: 1, maxLength: 8 }),
            fc.integer({ min: 0, max: 40 }),
            async (cuts, stallMs) => {
              proxy.next({ cuts: cuts.sort((a, b) => a - b), stallMs })
              expect(await run(proxy.port)).toEqual(OK)
            },
          ),
          { numRuns: 40 },
        )
      })

      it(`${client}: a connection stalled forever after any prefix of its first bytes is closed within its deadline`, async () => {
        const flight = flights[client]!
        const offsets = Array.from({ length: flight.length }, (_, i) => i)
        // 128 stalled connections at a time: hundreds held open, not a flood of handshakes in one instant.
        await inBatches(offsets, 128, async (i) => {
          const ms = await stallAfter(gateway.port, flight.subarray(0, i))
          expect(ms, `stalled after ${i} bytes`).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
          expect(ms, `stalled after ${i} bytes`).toBeLessThanOrEqual(CLOSED_WITHIN_MS)
        })
      })
    }
  })
}

suite('cleartext: HTTP/1.1 and h2c on one port', {
  tls: false,
  clients: {
    'HTTP/1.1': (port) => http1Get(port, '/healthz'),
    h2c: (port) => http2Get(port, '/healthz'),
  },
})

suite('TLS: HTTP/1.1 and HTTP/2 by ALPN', {
  tls: true,
  clients: {
    'HTTPS/1.1': (port) => http1Get(port, '/healthz', true),
    'HTTP/2 over TLS': (port) => http2Get(port, '/healthz', true),
  },
})
