import { get } from 'node:https'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './helpers/browser.ts'
import { startGateway, type TestGateway } from './helpers/gateway.ts'
import { selfSignedCertificate } from './helpers/tls.ts'

declare global {
  interface Window {
    received: Array<{ groupId: string; type: string; v?: number }>
    opened: number
    MotiaStream: new (address: string) => { subscribeGroup(s: string, g: string): { addChangeListener(fn: (items: unknown[]) => void): void } }
    motiaState: unknown[]
  }
}

const metric = async (url: string, line: RegExp) => line.test(await (await fetch(`${url}/metrics`)).text())

describe('SSE in Chromium', () => {
  let browser: Browser
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(async () => {
    await browser?.close()
    await gw.close()
  })

  it('carries 50 subscriptions on one multiplexed EventSource', async () => {
    browser = await launchChromium()
    const page = await browser.newPage()
    await page.goto(`${gw.url}/healthz`)
    const groups = Array.from({ length: 50 }, (_, i) => `g${i}`)
    await page.evaluate((query) => {
      window.received = []
      const source = new EventSource(`/events?${query}`)
      source.onmessage = (m) => {
        const frame = JSON.parse(m.data)
        window.received.push({ groupId: frame.groupId, type: frame.event.type, v: frame.event.data?.v })
      }
    }, groups.map((g) => `subscribe=chat/${g}`).join('&'))
    await page.waitForFunction(() => window.received.length === 50)
    for (const [i, g] of groups.entries()) await gw.server.streams.chat!.set(g, 'item', { v: i })
    await page.waitForFunction(() => window.received.length === 100)
    const received = await page.evaluate(() => window.received)
    expect(received.filter((r) => r.type === 'sync').map((r) => r.groupId).sort()).toEqual([...groups].sort())
    expect(received.filter((r) => r.type === 'create').map((r) => [r.groupId, r.v])).toEqual(groups.map((g, i) => [g, i]))
    expect(await metric(gw.url, /streamgate_connections\{transport="sse"\} 1\n/)).toBe(true)
    expect(await metric(gw.url, /streamgate_subscriptions\{transport="sse"\} 50\n/)).toBe(true)
  })
})

describe('HTTPS with HTTP/2 and HTTP/1.1 on one port', () => {
  const certificate = selfSignedCertificate()
  let browser: Browser
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ tls: { cert: certificate.cert, key: certificate.key } })
  })
  afterAll(async () => {
    await browser?.close()
    await gw.close()
  })

  it('serves 50 concurrent EventSources over HTTP/2 in Chromium (past the six-connection limit of HTTP/1.1)', async () => {
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${certificate.spkiHash}`])
    const page = await browser.newPage()
    await page.goto(`${gw.url}/healthz`)
    expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceResourceTiming).nextHopProtocol)).toBe('h2')
    await page.evaluate(() => {
      window.received = []
      window.opened = 0
      for (let i = 0; i < 50; i++) {
        const source = new EventSource(`/streams/chat/h2-${i}`)
        source.onopen = () => window.opened++
        source.onmessage = (m) => {
          const frame = JSON.parse(m.data)
          window.received.push({ groupId: frame.groupId, type: frame.event.type, v: frame.event.data?.v })
        }
      }
    })
    await page.waitForFunction(() => window.opened === 50 && window.received.length === 50)
    for (let i = 0; i < 50; i++) await gw.server.streams.chat!.set(`h2-${i}`, 'x', { v: i })
    await page.waitForFunction(() => window.received.length === 100)
    const creates = (await page.evaluate(() => window.received)).filter((r) => r.type === 'create')
    expect(creates.map((r) => r.v).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it("follows a group over wss:// with Motia's browser client", async () => {
    browser ??= await launchChromium([`--ignore-certificate-errors-spki-list=${certificate.spkiHash}`])
    const bundle = await build({
      stdin: { contents: "import { Stream } from 'motia-browser-0.17'; window.MotiaStream = Stream", resolveDir: process.cwd() },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      logLevel: 'silent',
    })
    const page = await browser.newPage()
    await page.goto(`${gw.url}/healthz`)
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text })
    await page.evaluate((address) => {
      window.motiaState = []
      const stream = new window.MotiaStream(address)
      stream.subscribeGroup('todo', 'secure').addChangeListener((items) => (window.motiaState = items))
    }, gw.wsUrl.replace('https', 'wss'))
    await gw.server.streams.todo!.set('secure', 'a', { title: 'over TLS' })
    await page.waitForFunction(() => window.motiaState.length === 1)
    expect(await page.evaluate(() => window.motiaState)).toEqual([{ title: 'over TLS', done: false, id: 'a' }])
  })

  it('answers HTTP/1.1 on the same port', async () => {
    const { status, httpVersion, body } = await new Promise<{ status: number; httpVersion: string; body: string }>((resolve, reject) => {
      get(`${gw.url}/streams/todo/secure`, { ca: certificate.cert }, (response) => {
        let body = ''
        response.on('data', (d) => (body += d))
        response.on('end', () => resolve({ status: response.statusCode!, httpVersion: response.httpVersion, body }))
      }).on('error', reject)
    })
    expect({ status, httpVersion }).toEqual({ status: 200, httpVersion: '1.1' })
    expect(JSON.parse(body)).toEqual([{ title: 'over TLS', done: false, id: 'a' }])
  })
})
