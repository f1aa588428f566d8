// @streamgate/client/react in Chromium, on each transport: the hooks render live state (sortKey order, an
// item, custom events through useStreamEventHandler, a refusal as an `error` event), StrictMode and a tree
// re-rendering every 20 ms with inline props cause no re-subscription or reconnect, and the page waits while
// offline and catches up when back online. The page is test/helpers/client-react-page.tsx.
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { loadHooks, loadStreams } from '../gateway/config/load-modules.ts'
import { createGateway, type StreamgateServer } from '../gateway/server.ts'
import { collectPageErrors, launchChromium, waitForRendered } from './helpers/browser.ts'
import { AUTH_CONFIG, FIXTURE_STREAMS } from './helpers/gateway.ts'

const PAGE = fileURLToPath(new URL('./helpers/client-react-page.tsx', import.meta.url))
const TRANSPORTS = ['websocket', 'sse', 'connect'] as const

interface Setup {
  url: string
  server: StreamgateServer
  browser: Browser
  /** Connections the gateway accepted, by kind, and the sockets to cut. */
  counts: { websocket: number; sse: number; connect: number }
  cut(): void
}
const opened: { server?: StreamgateServer; browser?: Browser } = {}
let starting: Promise<Setup> | undefined
const setup = () => (starting ??= start())
async function start(): Promise<Setup> {
  const bundle = await build({
    entryPoints: [PAGE],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // React's development build: StrictMode mounts every effect twice.
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  })
  const script = bundle.outputFiles[0]!.text
  const server = (opened.server = await createGateway({
    streams: await loadStreams([FIXTURE_STREAMS]),
    hooks: await loadHooks(AUTH_CONFIG),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  }))
  server.app.get('/', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send('<!doctype html><html><head><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="/page.js"></script></body></html>'),
  )
  server.app.get('/page.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script))
  const counts = { websocket: 0, sse: 0, connect: 0 }
  const sockets = new Set<{ destroy(): void }>()
  server.app.server.on('upgrade', (_request, socket) => {
    counts.websocket++
    sockets.add(socket)
  })
  server.app.server.on('request', (request) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname
    if (path === '/events') counts.sse++
    else if (path === '/streamgate.v1.StreamService/Subscribe') counts.connect++
    else return
    sockets.add(request.socket)
  })
  const url = await server.listen(0, '127.0.0.1')
  const browser = (opened.browser = await launchChromium())
  return {
    url,
    server,
    browser,
    counts,
    cut() {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
  }
}

const contexts: BrowserContext[] = []
const pageErrors: Array<{ transport: string; errors: string[] }> = []
/** What Chromium logs for what a test does on purpose: set by the test. */
let expectedNoise: RegExp | undefined
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close()
  // A refused SSE subscription is an HTTP 403, which Chromium logs; nothing else may show up.
  for (const { transport, errors } of pageErrors.splice(0)) {
    expect(
      errors.filter((e) => !(transport === 'sse' && /status of 403/.test(e)) && !expectedNoise?.test(e)),
      transport,
    ).toEqual([])
  }
  expectedNoise = undefined
})
afterAll(async () => {
  await opened.browser?.close()
  await opened.server?.close()
})

let groups = 0
async function openPage(transport: string) {
  const s = await setup()
  const context = await s.browser.newContext()
  contexts.push(context)
  const page = await context.newPage()
  pageErrors.push({ transport, errors: collectPageErrors(page) })
  // What the page opened, as Chromium saw it.
  const wire = { websocket: 0, sse: 0, connect: 0 }
  page.on('websocket', () => wire.websocket++)
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname
    if (path === '/events') wire.sse++
    else if (path === '/streamgate.v1.StreamService/Subscribe') wire.connect++
  })
  const group = `hooks-${transport}-${++groups}`
  await page.goto(`${s.url}/?transport=${transport}&group=${group}&user=${group}`)
  await waitForRendered(page, shown.item, 'missing', `${transport}: the item's sync`)
  return { page, context, group, setup: s, wire }
}

// Evaluated in the page: keep them self-contained.
const board = () => Array.from(document.querySelectorAll('[data-testid="board"] li')).map((li) => `${li.getAttribute('data-id')}=${li.textContent}`)
const versions = () => Array.from(document.querySelectorAll('[data-testid="board"] li')).map((li) => `${li.getAttribute('data-id')}@${li.getAttribute('data-version')}`)
const shown = {
  item: () => document.querySelector('[data-testid="item"]')?.textContent,
  pings: () => document.querySelector('[data-testid="pings"]')?.textContent,
  refusals: () => document.querySelector('[data-testid="private"]')?.textContent,
  status: () => document.querySelector('[data-testid="status"]')?.textContent,
  tick: () => document.querySelector('[data-testid="tick"]')?.textContent,
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.each(TRANSPORTS)('@streamgate/client/react over %s in Chromium', (transport) => {
  it('renders live state, sortKey order, custom events and refusals; re-renders and StrictMode never re-subscribe', async () => {
    const { page, group, setup: s, wire } = await openPage(transport)
    const chat = s.server.streams.chat!
    await chat.set(group, 'a', { n: 10 })
    await chat.set(group, 'b', { n: 9 })
    await chat.set(group, 'c', { n: 100 })
    await chat.set(group, 'pinned', { n: 1 })
    // Numbers sort as numbers (Motia's string comparison would put 10 and 100 before 9).
    await waitForRendered(page, board, ['pinned=1', 'b=9', 'a=10', 'c=100'], `${transport}: the board, sorted by n`)
    await waitForRendered(page, shown.item, 'n=1', `${transport}: the item`)
    // Each item's version (the seq of its last change, the REST ETag) renders with it: a fresh group's
    // writes are 1 to 4, and an update moves only its item's version.
    expect(await page.getByTestId('item').getAttribute('data-version')).toBe('4')
    await chat.set(group, 'b', { n: 9 })
    await waitForRendered(page, versions, ['pinned@4', 'b@5', 'a@1', 'c@3'], `${transport}: the versions`)
    await chat.delete(group, 'pinned')
    await waitForRendered(page, shown.item, 'missing', `${transport}: the deleted item`)
    expect(await page.getByTestId('item').getAttribute('data-version')).toBeNull()

    await chat.send({ groupId: group }, { type: 'ping', data: { n: 1 } })
    await waitForRendered(page, shown.pings, 'before:1', `${transport}: a custom event`)
    await page.getByTestId('relabel').click()
    await chat.send({ groupId: group }, { type: 'ping', data: { n: 2 } })
    // The latest listener ran: Motia's hook keeps the first one unless its deps say otherwise.
    await waitForRendered(page, shown.pings, 'before:1,after:2', `${transport}: the event reaches the current listener`)

    await waitForRendered(page, shown.refusals, 'STREAM_ACCESS_DENIED', `${transport}: the refusal as an error event`)
    expect(await page.getByTestId('private').getAttribute('data-mine')).toBe('0')
    await s.server.streams.private!.set(group, 'n1', { text: 'mine' })
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="private"]')?.getAttribute('data-mine')) >= 1)

    // The tree re-renders every 20 ms with new inline props: nothing reconnects, nothing re-subscribes.
    const ticks = Number(await page.evaluate(shown.tick))
    const before = { ...s.counts }
    const setDataCalls = await page.evaluate(() => (window as unknown as { __setDataCalls: number }).__setDataCalls)
    await page.waitForFunction((from) => Number(document.querySelector('[data-testid="tick"]')?.textContent) >= from + 15, ticks)
    expect(s.counts).toEqual(before)
    expect(await page.evaluate(() => (window as unknown as { __setDataCalls: number }).__setDataCalls)).toBe(setDataCalls)
    // One connection for the page (StrictMode's first, closed stream never connected). SSE: the stream the
    // gateway refused (403, one subscription not allowed) and the one without the refused subscription.
    // Connect: one call per address.
    const expected = { websocket: 1, sse: 2, connect: 4 }[transport]
    expect(await page.evaluate(() => (window as unknown as { __stream: { attempts: number } }).__stream.attempts)).toBe(expected)
    // ...plus, for SSE, one probe per subscription (4) to find the one that was refused.
    expect(wire).toEqual({ websocket: 0, sse: 0, connect: 0, [transport]: transport === 'sse' ? expected + 4 : expected })
    await waitForRendered(page, shown.status, 'open', `${transport}: status`)
    const errors = await page.evaluate(() => (window as unknown as { __errors: Array<{ kind: string }> }).__errors.map((e) => e.kind))
    expect(errors).toEqual(['refused'])
  })

  it('waits while offline, makes no attempt, and catches up when back online', async () => {
    const { page, context, group, setup: s } = await openPage(transport)
    const chat = s.server.streams.chat!
    await chat.set(group, 'a', { n: 1 })
    await waitForRendered(page, board, ['a=1'], `${transport}: live`)
    await context.setOffline(true)
    // Streams cut mid-body: Chromium logs the broken response.
    expectedNoise = /Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET|INTERNET_DISCONNECTED)/
    s.cut()
    await waitForRendered(page, shown.status, 'offline', `${transport}: offline`)
    const attempts = () => page.evaluate(() => (window as unknown as { __stream: { attempts: number } }).__stream.attempts)
    const offlineAt = await attempts()
    await chat.set(group, 'b', { n: 2 })
    await chat.set(group, 'a', { n: 3 })
    await sleep(300)
    expect(await attempts()).toBe(offlineAt)
    await context.setOffline(false)
    await waitForRendered(page, board, ['b=2', 'a=3'], `${transport}: caught up when online`)
    expect(await attempts()).toBeGreaterThan(offlineAt)
  })
})
