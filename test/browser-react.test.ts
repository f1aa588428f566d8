// The demo page (examples/demo) in real Chromium: the unmodified @motiadev/stream-client-react 0.2.2 against
// streamgate, driven through REST and the page's own form.
import type { Browser, Page } from 'playwright-core'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { cannedAnswer, DEMO_STREAMS, demoRoutes } from '../examples/demo/demo-routes.ts'
import { loadStreams } from '../gateway/config/load-modules.ts'
import { createGateway, type StreamgateServer } from '../gateway/server.ts'
import { collectPageErrors, launchChromium, waitForRendered } from './helpers/browser.ts'
import { rest } from './helpers/gateway.ts'
import { byId, fields, renderedAnswer, renderedCount, renderedTodos, renderedTodosById, renderedTraceId, type Todo, todoBursts, todoWriter } from './helpers/demo-page.ts'


interface Demo {
  url: string
  page: Page
  pageErrors: string[]
}
const opened: { server?: StreamgateServer; browser?: Browser; demo?: Demo } = {}
let starting: Promise<Demo> | undefined

/**
 * The demo server and one page, started by the first test. Set up inside the tests rather than in beforeAll,
 * so a missing Chromium (or any setup error) fails every test with its message instead of skipping them.
 */
const demo = () => (starting ??= start())
async function start(): Promise<Demo> {
  // As `npm start` does, but on an ephemeral port; routes must be added before listen().
  const server = (opened.server = await createGateway({
    streams: await loadStreams([DEMO_STREAMS]),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  }))
  await demoRoutes(server)
  const url = await server.listen(0, '127.0.0.1')
  const browser = (opened.browser = await launchChromium())
  const page = await browser.newPage()
  const pageErrors = collectPageErrors(page)
  await page.goto(url)
  // The provider renders its children once it has opened its Stream.
  await page.getByTestId('todo-list').waitFor({ state: 'attached' })
  return (opened.demo = { url, page, pageErrors })
}

afterAll(async () => {
  await opened.browser?.close()
  await opened.server?.close()
})

afterEach(() => {
  if (opened.demo) expect(opened.demo.pageErrors).toEqual([])
})


describe('demo page: @motiadev/stream-client-react in Chromium', () => {
  it('renders todo writes from REST (bursts of PUT and DELETE) and ends equal to the stored group', async () => {
    const { url, page } = await demo()
    const writer = todoWriter(url)
    // Compared by id: concurrent writes to different items may land in any order.
    await todoBursts(writer, (what) => waitForRendered(page, renderedTodosById, writer.expected(), what))

    // Finally the rendered list is exactly the stored group, in the stored order too.
    const stored = await rest(url, 'GET', '/streams/todo/inbox')
    expect(stored.status).toBe(200)
    const storedTodos = (stored.body as Todo[]).map(fields)
    expect(byId(storedTodos)).toEqual(writer.expected())
    await waitForRendered(page, renderedTodos, storedTodos, 'rendered list in stored order')
    expect(await page.evaluate(renderedCount)).toBe(String(storedTodos.length))
  })

  it('renders the answer to a prompt growing token by token until it is the full canned answer', async () => {
    const { url, page } = await demo()
    // Record every distinct answer text the page renders, from before the submit.
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

    const ask = async (prompt: string) => {
      const reply = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/open-ai')
      await page.getByTestId('prompt').fill(prompt)
      await page.getByTestId('send').click()
      const response = await reply
      expect(response.status()).toBe(200)
      const body = (await response.json()) as { __motia: { groupId: string } }
      // Motia's shape: the empty item, with the marker the Workbench auto-subscribes to.
      expect(body).toEqual({
        id: 'message',
        message: '',
        __motia: { type: 'state-stream', streamName: 'openai', groupId: expect.stringMatching(/^[0-9a-f-]{36}$/), id: 'message' },
      })
      const traceId = body.__motia.groupId
      await waitForRendered(page, renderedTraceId, traceId, 'trace id shown')
      await waitForRendered(page, renderedAnswer, cannedAnswer(prompt), `full answer to "${prompt}"`)
      const stored = await rest(url, 'GET', `/streams/openai/${traceId}/message`)
      expect(stored.body).toEqual({ id: 'message', message: cannedAnswer(prompt) })
      return traceId
    }

    const prompt = 'What does streamgate do?'
    const full = cannedAnswer(prompt)
    const firstTrace = await ask(prompt)
    const seen = await page.evaluate(() => (window as unknown as { __answers: string[] }).__answers)
    const rendered = seen.filter((text) => text !== '')
    expect(rendered.at(-1)).toBe(full)
    // Every rendered state is a whole-word prefix of the answer, each longer than the one before.
    for (const [i, text] of rendered.entries()) {
      expect(full.startsWith(text), `rendered state ${i} is a prefix: ${JSON.stringify(text)}`).toBe(true)
      expect(text === full || full[text.length] === ' ', `rendered state ${i} ends on a word: ${JSON.stringify(text)}`).toBe(true)
      if (i > 0) expect(text.length).toBeGreaterThan(rendered[i - 1]!.length)
    }
    const partial = rendered.slice(0, -1)
    expect(partial.length, 'at least one partial answer was rendered before the full one').toBeGreaterThanOrEqual(1)

    // A second prompt switches the subscription to the new trace and shows its own answer.
    const secondTrace = await ask('and a second question')
    expect(secondTrace).not.toBe(firstTrace)
  })
})
