// The inspector's HTTP side: the page and its assets (types, caching, compression, nothing else served),
// GET /inspector/status against real clients on every streaming transport, authentication, switching it
// off, and the build in dist/ being the build of the current sources.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { createClient } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { StreamService } from '../gateway/gen/streamgate/v1/stream_pb.ts'
import { INSPECTOR_DIST, loadInspectorAssets } from '../gateway/inspector/inspector-assets.ts'
import type { InspectorStatus } from '../gateway/inspector/status.ts'
import { killCliProcesses, launch } from './helpers/cli-process.ts'
import { follow } from './helpers/connect-clients.ts'
import { FIXTURE_STREAMS, rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { sseRead } from './helpers/sse.ts'

const BUILD = new URL('../gateway/inspector/build.mjs', import.meta.url).pathname

/** The asset paths the page names. */
const assetsOf = (html: string) => [...html.matchAll(/(?:src|href)="(\/inspector\/assets\/[^"]+)"/g)].map((m) => m[1]!)

describe('the inspector page and its assets', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(async () => {
    await gw?.close()
  })

  it('serves the page as revalidated HTML under a policy that allows its own origin only', async () => {
    const response = await fetch(`${gw.url}/inspector`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(response.headers.get('cache-control')).toBe('no-cache')
    const policy = response.headers.get('content-security-policy')!
    expect(policy).toContain("default-src 'none'")
    expect(policy).toContain("script-src 'self'")
    expect(policy).toContain("connect-src 'self'")
    expect(policy).toContain("frame-ancestors 'none'")
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await response.text()
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//)
    const again = await fetch(`${gw.url}/inspector`, { headers: { 'if-none-match': response.headers.get('etag')! } })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')
    expect((await fetch(`${gw.url}/inspector/`, { redirect: 'manual' })).headers.get('location')).toBe('/inspector')
  })

  it('serves the script and the stylesheet the page names, with their types, cached for good, gzipped on request', async () => {
    const html = await (await fetch(`${gw.url}/inspector`)).text()
    const assets = assetsOf(html)
    expect(assets.map((a) => a.split('.').at(-1)).sort()).toEqual(['css', 'js'])
    for (const path of assets) {
      const plain = await fetch(`${gw.url}${path}`, { headers: { 'accept-encoding': 'identity' } })
      expect(plain.status).toBe(200)
      expect(plain.headers.get('content-type')).toBe(path.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8')
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(plain.headers.get('content-encoding')).toBeNull()
      const body = Buffer.from(await plain.arrayBuffer())
      // Raw bytes (node:http): fetch would decompress them.
      const gzipped = await new Promise<{ encoding?: string; vary?: string; body: Buffer }>((resolve, reject) => {
        get(`${gw.url}${path}`, { headers: { 'accept-encoding': 'gzip, deflate' } }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], vary: res.headers.vary, body: Buffer.concat(chunks) }))
        }).on('error', reject)
      })
      expect(gzipped.encoding).toBe('gzip')
      expect(gzipped.vary).toBe('accept-encoding')
      expect(gzipped.body.length).toBeLessThan(body.length)
      expect(gunzipSync(gzipped.body).equals(body)).toBe(true)
    }
  })

  it('keeps the page small: under 60 kB gzipped, page, script and stylesheet together', async () => {
    const html = await (await fetch(`${gw.url}/inspector`)).text()
    let total = Buffer.byteLength(html)
    for (const path of assetsOf(html)) total += Buffer.from(await (await fetch(`${gw.url}${path}`)).arrayBuffer()).length
    const gzipped = [join(INSPECTOR_DIST, 'index.html.gz'), ...readdirSync(join(INSPECTOR_DIST, 'assets')).filter((n) => n.endsWith('.gz')).map((n) => join(INSPECTOR_DIST, 'assets', n))]
      .map((f) => readFileSync(f).length)
      .reduce((a, b) => a + b, 0)
    expect(gzipped).toBeLessThan(60 * 1024)
    expect(total).toBeGreaterThan(gzipped)
  })

  it('serves no other file under /inspector/assets, whatever the name', async () => {
    const served = new Set(assetsOf(await (await fetch(`${gw.url}/inspector`)).text()).map((p) => p.split('/').at(-1)!))
    const names = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.constantFrom('..%2F..%2Fpackage.json', '..%2Fbuild.mjs', '%2e%2e%2Finspector-routes.ts', 'index.html', 'inspector.js', '__proto__', 'constructor'),
      fc.constantFrom(...served).map((n) => `${n}.gz`),
    )
    await fc.assert(
      fc.asyncProperty(names, async (name) => {
        const response = await fetch(`${gw.url}/inspector/assets/${name.startsWith('..%') || name.startsWith('%2e') ? name : encodeURIComponent(name)}`)
        const body = await response.text()
        if (served.has(name)) return void expect(response.status).toBe(200)
        expect(response.status).toBe(404)
        expect(JSON.parse(body)).toMatchObject({ code: 'NOT_FOUND' })
      }),
      { numRuns: 60 },
    )
  })
})

describe('GET /inspector/status', () => {
  let gw: TestGateway | undefined
  afterEach(async () => {
    await gw?.close()
    gw = undefined
  })
  const status = async (url: string, headers: Record<string, string> = {}) => {
    const response = await rest(url, 'GET', '/inspector/status', undefined, headers)
    return { ...response, body: response.body as InspectorStatus }
  }

  it('counts the connections and subscriptions of each transport as real clients come and go', async () => {
    gw = await startGateway()
    const { url } = gw
    const empty = { connections: 0, subscriptions: 0 }
    expect((await status(url)).body.transports).toEqual({ websocket: empty, sse: empty, connect: empty })

    const ws = await rawClient(gw.wsUrl)
    ws.join('todo', 'a')
    ws.join('todo', 'b', 'x')
    const sse = await sseRead(`${url}/events?subscribe=todo/a&subscribe=chat/c&subscribe=chat/c/y`)
    const connect = createClient(StreamService, createConnectTransport({ baseUrl: url, httpVersion: '2' }))
    const controller = new AbortController()
    const subscribed = follow(connect.subscribe({ streamName: 'todo', groupId: 'a' }, { signal: controller.signal }))
    await until(() => ws.frames.length === 2 && sse.messages.length === 3 && subscribed.received.length === 1, 'every sync')
    expect((await status(url)).body.transports).toEqual({
      websocket: { connections: 1, subscriptions: 2 },
      sse: { connections: 1, subscriptions: 3 },
      connect: { connections: 1, subscriptions: 1 },
    })

    ws.close()
    sse.close()
    controller.abort()
    await until(async () => JSON.stringify((await status(url)).body.transports) === JSON.stringify({ websocket: empty, sse: empty, connect: empty }), 'all released')
  })

  it('reports every write through the instance, and a rate while they happen', async () => {
    gw = await startGateway()
    const { url } = gw
    expect((await status(url)).body.writes).toEqual({ total: 0, perSecond: 0 })
    const writes = 40
    for (let i = 0; i < writes; i++) await rest(url, 'PUT', `/streams/chat/rate/i${i % 7}`, { i })
    await rest(url, 'DELETE', '/streams/chat/rate/i0')
    await rest(url, 'POST', '/streams/chat/rate/events', { type: 'ping', data: 1 })
    // A refused write is not a write.
    expect((await rest(url, 'PUT', '/streams/todo/rate/t', { title: '' })).status).toBe(400)
    await gw.server.streams.chat!.set('rate', 'in-process', { n: 1 })
    const reading = await until(async () => {
      const { body } = await status(url)
      return body.writes.perSecond > 0 && body.writes
    }, 'a rate from the sampler', 5000)
    expect(reading.total).toBe(writes + 3)
  })

  it('is authenticated like REST: a refused token is 401, and it says that the gateway authenticates', async () => {
    gw = await startGateway({ auth: true })
    expect((await status(gw.url)).body.auth).toBe(true)
    expect((await status(gw.url, { authorization: 'Bearer someone' })).status).toBe(200)
    const refused = await status(gw.url, { authorization: 'Bearer bad' })
    expect(refused.status).toBe(401)
    expect(refused.body).toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(JSON.stringify(refused.body)).not.toContain('bad')
    expect((await rest(gw.url, 'GET', '/inspector/status?authToken=bad')).status).toBe(401)
    // The page itself holds no data: a browser navigating to it cannot send a token.
    expect((await fetch(`${gw.url}/inspector`, { headers: { authorization: 'Bearer bad' } })).status).toBe(200)
    await gw.close()
    gw = await startGateway()
    expect((await status(gw.url)).body.auth).toBe(false)
  })
})

describe('turning the inspector off', () => {
  afterEach(killCliProcesses)

  it('serves neither the page nor its status with inspector: false', async () => {
    const gw = await startGateway({ inspector: false })
    try {
      for (const path of ['/inspector', '/inspector/status']) expect((await fetch(`${gw.url}${path}`)).status).toBe(404)
      expect((await rest(gw.url, 'GET', '/streams')).status).toBe(200)
    } finally {
      await gw.close()
    }
  })

  it('serves it by default from the command, and not with --no-inspector or STREAMGATE_NO_INSPECTOR=1', async () => {
    const on = await launch(['--streams', FIXTURE_STREAMS, '--port', '0'])
    const off = await launch(['--streams', FIXTURE_STREAMS, '--port', '0', '--no-inspector'])
    const offByEnv = await launch(['--port', '0'], { STREAMGATE_STREAMS: FIXTURE_STREAMS, STREAMGATE_NO_INSPECTOR: '1' })
    expect((await fetch(`${on.url}/inspector`)).status).toBe(200)
    expect((await fetch(`${off.url}/inspector`)).status).toBe(404)
    expect((await fetch(`${offByEnv.url}/inspector/status`)).status).toBe(404)
  })
})

describe('the build', () => {
  it('dist/ is what the current sources build to (npm ci builds it; `npm run inspector:build` after editing the page)', () => {
    const out = new URL('./.tmp/inspector-build', import.meta.url).pathname
    execFileSync(process.execPath, [BUILD, '--out', out], { stdio: 'pipe' })
    const files = (dir: string) => ['index.html', ...readdirSync(join(dir, 'assets')).map((n) => `assets/${n}`)].sort()
    expect(files(INSPECTOR_DIST), 'run `npm run inspector:build`').toEqual(files(out))
    for (const file of files(out)) expect(readFileSync(join(INSPECTOR_DIST, file)).equals(readFileSync(join(out, file))), file).toBe(true)
  })

  it('a gateway without the built page refuses to start with one line that says how to build it', async () => {
    const missing = new URL('./.tmp/no-such-build', import.meta.url).pathname
    await expect(loadInspectorAssets(missing)).rejects.toThrow(/^the inspector page is not built \(.+ is missing\): run `npm run inspector:build`, or start with --no-inspector$/)
  })
})
