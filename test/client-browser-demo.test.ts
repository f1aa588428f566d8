// The demo app (examples/demo) in Chromium, four times side by side: on Motia's @motiadev/stream-client-react
// (the page as `npm start` serves it) and on @streamgate/client/react over WebSocket, SSE and Connect
// (`?transport=`, which only changes the provider's import and its `transport` prop). One scenario drives
// all four; every page must end showing the stored state, and all four must show the same.
import type { Browser, Page, Request, WebSocket as PageSocket } from 'playwright-core'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { cannedAnswer, DEMO_STREAMS, demoRoutes } from '../examples/demo/demo-routes.ts'
import { loadStreams } from '../gateway/config/load-modules.ts'
import { createGateway, type StreamgateServer } from '../gateway/server.ts'
import { collectPageErrors, launchChromium, waitForRendered } from './helpers/browser.ts'
import { rest } from './helpers/gateway.ts'
import { byId, fields, renderedAnswer, renderedCount, renderedTodos, renderedTodosById, renderedTraceId, type Todo, todoBursts, todoWriter } from './helpers/demo-page.ts'

const MODES = ['motia', 'websocket', 'sse', 'connect'] as const
type Mode = (typeof MODES)[number]

interface DemoPage {
  mode: Mode
  page: Page
  errors: string[]
  requests: Request[]
  sockets: PageSocket[]
}
interface Demo {
  url: string
  pages: DemoPage[]
}
const opened: { server?: StreamgateServer; browser?: Browser } = {}
let starting: Promise<Demo> | undefined

/** The demo server and one page per client, started by the first test (so a setup error fails every test). */
const demo = () => (starting ??= start())
async function start(): Promise<Demo> {
  const server = (opened.server = await createGateway({
    streams: await loadStreams([DEMO_STREAMS]),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  }))
  await demoRoutes(server, { tokenDelayMs: 15 })
  const url = await server.listen(0, '127.0.0.1')
  const browser = (opened.browser = await launchChromium())
  const pages = await Promise.all(
    MODES.map(async (mode) => {
      const page = await browser.newPage()
      const entry: DemoPage = { mode, page, errors: collectPageErrors(page), requests: [], sockets: [] }
      page.on('request', (request) => entry.requests.push(request))
      page.on('websocket', (socket) => entry.sockets.push(socket))
      await page.goto(mode === 'motia' ? url : `${url}/?transport=${mode}`)
      await page.getByTestId('todo-list').waitFor({ state: 'attached' })
      return entry
    }),
  )
  return { url, pages }
}

afterAll(async () => {
  await opened.browser?.close()
  await opened.server?.close()
})

afterEach(async () => {
  const running = await starting
  for (const { mode, errors } of running?.pages ?? []) expect(errors, mode).toEqual([])
})


describe('demo app: Motia React package and @streamgate/client/react side by side', () => {
  it('switches transports with one prop: each page talks to the gateway the way it says', async () => {
    const { pages } = await demo()
    const label: Record<Mode, string> = {
      motia: '@motiadev/stream-client-react',
      websocket: '@streamgate/client/react over websocket',
      sse: '@streamgate/client/react over sse',
      connect: '@streamgate/client/react over connect',
    }
    for (const { mode, page } of pages) await waitForRendered(page, () => document.querySelector('[data-testid="client"]')?.textContent, label[mode], mode)
    const wire = (p: DemoPage) => ({
      websockets: p.sockets.length,
      sse: p.requests.filter((r) => new URL(r.url()).pathname === '/events').length,
      connect: p.requests.filter((r) => new URL(r.url()).pathname === '/streamgate.v1.StreamService/Subscribe').length,
    })
    const [motia, websocket, sse, connect] = pages.map(wire)
    expect(motia).toEqual({ websockets: 1, sse: 0, connect: 0 })
    expect(websocket).toEqual({ websockets: 1, sse: 0, connect: 0 })
    expect(sse).toMatchObject({ websockets: 0, sse: 1, connect: 0 })
    expect(connect).toMatchObject({ websockets: 0, sse: 0, connect: 1 })
    const subscribe = pages[2]!.requests.find((r) => new URL(r.url()).pathname === '/events')!
    expect(new URL(subscribe.url()).searchParams.getAll('subscribe')).toEqual(['todo/inbox'])
  })

  it('one scenario of REST bursts: every page renders the stored group, and all four render the same', async () => {
    const { url, pages } = await demo()
    const writer = todoWriter(url)
    await todoBursts(writer, (what) =>
      Promise.all(pages.map(({ mode, page }) => waitForRendered(page, renderedTodosById, writer.expected(), `${mode}: ${what}`))),
    )

    const stored = ((await rest(url, 'GET', '/streams/todo/inbox')).body as Todo[]).map(fields)
    expect(byId(stored)).toEqual(writer.expected())
    for (const { mode, page } of pages) {
      await waitForRendered(page, renderedTodos, stored, `${mode}: the stored order`)
      expect(await page.evaluate(renderedCount), mode).toBe(String(stored.length))
    }
    // The same picture on all four, element for element.
    const shown = await Promise.all(pages.map(({ page }) => page.evaluate(() => document.querySelector('[data-testid="todo-list"]')?.outerHTML)))
    expect(new Set(shown).size).toBe(1)
  })

  it('one prompt per page: every page shows its answer grow word by word to the same full answer', async () => {
    const { pages } = await demo()
    const prompt = 'Which client is this?'
    const full = cannedAnswer(prompt)
    await Promise.all(
      pages.map(async ({ mode, page }) => {
        await page.evaluate(() => {
          const seen: string[] = []
          ;(window as unknown as { __answers: string[] }).__answers = seen
          const record = () => {
            const text = document.querySelector('[data-testid="answer"]')?.textContent ?? ''
            if (seen[seen.length - 1] !== text) seen.push(text)
          }
          record()
          new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true })
        })
        const reply = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/open-ai')
        await page.getByTestId('prompt').fill(prompt)
        await page.getByTestId('send').click()
        const body = (await (await reply).json()) as { __motia: { groupId: string } }
        await waitForRendered(page, renderedTraceId, body.__motia.groupId, `${mode}: trace id`)
        await waitForRendered(page, renderedAnswer, full, `${mode}: the full answer`)
        const rendered = (await page.evaluate(() => (window as unknown as { __answers: string[] }).__answers)).filter((t) => t !== '')
        for (const [i, text] of rendered.entries()) {
          expect(full.startsWith(text), `${mode}: state ${i} is a prefix`).toBe(true)
          if (i > 0) expect(text.length, `${mode}: state ${i} grows`).toBeGreaterThan(rendered[i - 1]!.length)
        }
        expect(rendered.at(-1), mode).toBe(full)
      }),
    )
  })
})
