// The inspector page in Chromium against real gateways: items change live while REST and gRPC (grpc-js)
// writes land, the forms write and REST sees it, schema violations show next to their fields, hostile data
// renders as text, and behind an `authenticate` hook every request and subscription carries the token.
// Every request the page makes is intercepted: nothing may leave for another origin. The same test takes
// the README's screenshots (UPDATE_SCREENSHOTS=1 writes them to docs/, otherwise to test/.tmp/).
import { mkdirSync } from 'node:fs'
import fc from 'fast-check'
import type { Browser, BrowserContext, Page, Request } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { collectPageErrors, launchChromium } from './helpers/browser.ts'
import { grpcJsClient, grpcUnary, hostPort, toGrpcStruct } from './helpers/connect-clients.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { rawClient } from './helpers/raw-ws.ts'

const SHOTS = process.env.UPDATE_SCREENSHOTS ? new URL('../docs/', import.meta.url).pathname : new URL('./.tmp/screenshots/', import.meta.url).pathname

interface Opened {
  page: Page
  context: BrowserContext
  errors: string[]
  /** Every request the page made (HTTP and the WebSocket handshake URLs). */
  requests: Request[]
  sockets: string[]
  /** Requests for anywhere but the gateway: aborted, and a failure of the test. */
  foreign: string[]
}

let browser: Browser
const contexts: BrowserContext[] = []
beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close()
})

/** A fresh browser context on the gateway's inspector, recording and fencing in every request. */
async function open(gw: TestGateway, path: string, viewport = { width: 1280, height: 800 }, mobile = false): Promise<Opened> {
  const context = await browser.newContext({ viewport, ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) })
  contexts.push(context)
  const origin = new URL(gw.url).origin
  const opened: Omit<Opened, 'page' | 'errors'> = { context, requests: [], sockets: [], foreign: [] }
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (new URL(url).origin === origin) return route.continue()
    opened.foreign.push(url)
    return route.abort()
  })
  const page = await context.newPage()
  const errors = collectPageErrors(page)
  page.on('request', (request) => opened.requests.push(request))
  page.on('websocket', (socket) => opened.sockets.push(socket.url()))
  await page.goto(`${gw.url}${path}`)
  return { ...opened, page, errors }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }

/**
 * No request left the gateway's origin, and the page ran without errors. Chromium logs each refused request
 * as a console error: `refusals` are the statuses the test provoked, and exactly those may be logged.
 */
function expectClean(opened: Opened, gw: TestGateway, refusals: number[] = []) {
  expect(opened.foreign).toEqual([])
  const logged = refusals.map((status) => `console.error: Failed to load resource: the server responded with a status of ${status} (${STATUS_TEXT[status]})`)
  expect([...opened.errors].sort()).toEqual(logged.sort())
  const origin = new URL(gw.url).origin
  for (const request of opened.requests) expect(new URL(request.url()).origin).toBe(origin)
  for (const socket of opened.sockets) expect(new URL(socket).host).toBe(new URL(gw.url).host)
}

/**
 * Waits until `read()`, evaluated in the page, returns `expected`. Polled from here: the page's policy has no
 * 'unsafe-eval', which playwright's waitForFunction needs.
 */
async function waitForRendered<T>(page: Page, read: (() => T) | string, expected: T, what: string) {
  const want = JSON.stringify(expected)
  let rendered: unknown
  try {
    await until(async () => JSON.stringify((rendered = await page.evaluate(read))) === want, what)
  } catch {
    throw new Error(`${what}: timed out\n  expected ${want}\n  rendered ${JSON.stringify(rendered)}`)
  }
}

// Evaluated in the page.
const renderedRows = () =>
  Array.from(document.querySelectorAll('#items tbody tr'))
    .filter((tr) => tr.getAttribute('data-change') !== 'delete')
    .map((tr) => ({ id: tr.querySelector('td.id code')?.textContent, data: JSON.parse(tr.querySelector('td.data code')?.textContent ?? 'null') }))
const changeOf = (id: string) => `document.querySelector('#items tr[data-id=${JSON.stringify(JSON.stringify(id)).slice(1, -1)}]')?.getAttribute('data-change') ?? null`

/** Records every mark a row gets (`<id> <change>`), so a test sees it however briefly it lasts. */
const recordMarks = (page: Page) =>
  page.evaluate(() => {
    const marks: string[] = ((window as unknown as { __marks: string[] }).__marks = [])
    new MutationObserver((records) => {
      for (const { target } of records) {
        const change = (target as Element).getAttribute('data-change')
        if (change) marks.push(`${(target as Element).getAttribute('data-id')} ${change}`)
      }
    }).observe(document.querySelector('#items tbody')!, { attributes: true, attributeFilter: ['data-change'], subtree: true })
  })
const marksOf = () => (window as unknown as { __marks: string[] }).__marks
const eventKinds = () => Array.from(document.querySelectorAll('#events li')).map((li) => `${li.querySelector('.kind')?.textContent} ${li.querySelector('.target')?.textContent ?? ''}`.trim())

/** The group as REST returns it, in the page's shape: rows by id, data without the id. */
async function stored(gw: TestGateway, stream: string, group: string, headers: Record<string, string> = {}) {
  const { body } = await rest(gw.url, 'GET', `/streams/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`, undefined, headers)
  return (body as Array<{ id: string }>)
    .map(({ id, ...data }) => ({ id, data }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

async function waitForStored(opened: Opened, gw: TestGateway, stream: string, group: string, what: string, headers: Record<string, string> = {}) {
  await waitForRendered(opened.page, renderedRows, await stored(gw, stream, group, headers), what)
}

const put = (gw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}) => rest(gw.url, 'PUT', `/streams/${path}`, body, headers)

describe('the inspector page', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(async () => {
    await gw?.close()
  })

  it('shows a group changing live as REST and gRPC writes land, marks the changed rows, and lists the events', async () => {
    for (const [id, title, done] of [['t1', 'Write the release notes', true], ['t2', 'Tag v0.2.0', false], ['t3', 'Announce it', false]] as const) {
      await put(gw, `todo/launch/${id}`, { title, done })
    }
    await put(gw, 'todo/backlog/b1', { title: 'Someday' })
    const opened = await open(gw, '/inspector#/todo/launch')
    const { page } = opened
    await waitForStored(opened, gw, 'todo', 'launch', 'the group as it was')
    await waitForRendered(page, () => Array.from(document.querySelectorAll('#streams li')).map((li) => li.textContent), ['chat', 'legacy', 'private', 'python', 'todo'], 'every stream')
    await waitForRendered(
      page,
      () => Array.from(document.querySelectorAll('#groups li')).map((li) => [li.querySelector('.name')?.textContent, li.querySelector('.count')?.textContent]),
      [['backlog', '1'], ['launch', '3']],
      'the groups of todo with their item counts',
    )
    // The first picture is the group as it is: nothing is marked.
    expect(await page.evaluate(() => document.querySelectorAll('#items tr[data-change]').length)).toBe(0)
    await recordMarks(page)

    const grpc = grpcJsClient(hostPort(gw.url))
    try {
      expect((await put(gw, 'todo/launch/t4', { title: 'Update the docs' })).status).toBe(201)
      await waitForStored(opened, gw, 'todo', 'launch', 'a REST create')
      await until(async () => (await page.evaluate(marksOf)).includes('t4 create'), 't4 marked create')
      const created = await grpcUnary(grpc, 'Set', { streamName: 'todo', groupId: 'launch', id: 'g1', data: toGrpcStruct({ title: 'Ping the gRPC users' }) })
      expect(created.created).toBe(true)
      await waitForStored(opened, gw, 'todo', 'launch', 'a gRPC create')
      await until(async () => (await page.evaluate(marksOf)).includes('g1 create'), 'g1 marked create')
      await grpcUnary(grpc, 'Set', { streamName: 'todo', groupId: 'launch', id: 't2', data: toGrpcStruct({ title: 'Tag v0.2.0', done: true }) })
      await waitForStored(opened, gw, 'todo', 'launch', 'a gRPC update')
      await until(async () => (await page.evaluate(marksOf)).includes('t2 update'), 't2 marked update')
      expect(await page.evaluate(changeOf('t1'))).toBeNull()
      expect((await page.evaluate(marksOf)).filter((m) => m.startsWith('t1 '))).toEqual([])
      expect((await rest(gw.url, 'DELETE', '/streams/todo/launch/t3')).status).toBe(200)
      // A deleted row is struck through for a moment, then goes.
      await until(async () => (await page.evaluate(marksOf)).includes('t3 delete'), 't3 marked delete')
      await waitForStored(opened, gw, 'todo', 'launch', 'a REST delete')
      await waitForRendered(page, eventKinds, ['delete t3', 'update t2', 'create g1', 'create t4', 'sync'], 'the last events, newest first')
      await waitForRendered(page, () => document.querySelector('#groups li[data-group="launch"] .count')?.textContent, '4', 'the new count in the group list')
      await waitForRendered(page, () => document.querySelector('#transports tr[data-transport="websocket"] .subscriptions')?.textContent, '1', 'its own subscription, counted')
      await waitForRendered(page, () => Number(document.querySelector('#writes-rate')?.textContent) > 0, true, 'a write rate')
      mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: `${SHOTS}inspector-laptop.png` })

      const phone = await open(gw, '/inspector#/todo/launch', { width: 390, height: 844 }, true)
      await waitForStored(phone, gw, 'todo', 'launch', 'the phone shows the group')
      await recordMarks(phone.page)
      await grpcUnary(grpc, 'Set', { streamName: 'todo', groupId: 'launch', id: 't4', data: toGrpcStruct({ title: 'Update the docs', done: true }) })
      await until(async () => (await phone.page.evaluate(marksOf)).includes('t4 update'), 't4 marked update')
      // Readable on a phone: nothing is wider than the screen.
      expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
      await phone.page.screenshot({ path: `${SHOTS}inspector-phone.png`, fullPage: true })
      expectClean(phone, gw)
    } finally {
      grpc.close()
    }
    expectClean(opened, gw)
    const paths = new Set(opened.requests.map((r) => new URL(r.url()).pathname.replace(/inspector\.[^.]+\./, 'inspector.*.')))
    expect([...paths].sort()).toEqual(['/inspector', '/inspector/assets/inspector.*.css', '/inspector/assets/inspector.*.js', '/inspector/status', '/streams', '/streams/todo'])
    expect(opened.sockets).toHaveLength(1)
  })

  it('writes through its forms: put, edit, delete and an event, each seen over REST and by subscribers', async () => {
    const opened = await open(gw, '/inspector#/todo/forms')
    const { page } = opened
    await page.locator('#group-note').getByText('0 items, live.').waitFor()
    const watcher = await rawClient(gw.wsUrl)
    watcher.join('todo', 'forms')
    await until(() => watcher.frames.length === 1, 'the watcher is subscribed')

    const form = page.locator('#put-form')
    await form.locator('input[name="id"]').fill('f1')
    const row = form.locator('.field-row').first()
    await row.locator('.field-name').fill('title')
    await row.locator('.field-value').fill('Made in the form')
    await form.getByRole('button', { name: 'Add a field' }).click()
    await form.locator('.field-row').nth(1).locator('.field-name').fill('done')
    await form.locator('.field-row').nth(1).locator('.field-value').fill('true')
    await form.getByRole('button', { name: 'Put item' }).click()
    await form.locator('.form-result').getByText('Created todo/forms/f1.').waitFor()
    expect((await rest(gw.url, 'GET', '/streams/todo/forms/f1')).body).toEqual({ id: 'f1', title: 'Made in the form', done: true })
    await waitForStored(opened, gw, 'todo', 'forms', 'the created item')

    // Edit fills the form with the item; a changed field is an update.
    await page.locator('#items tr[data-id="f1"]').getByRole('button', { name: 'Edit' }).click()
    expect(await form.locator('.field-row .field-value').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value))).toEqual(['Made in the form', 'true'])
    await form.locator('.field-row').first().locator('.field-value').fill('Edited in the form')
    await form.getByRole('button', { name: 'Put item' }).click()
    await form.locator('.form-result').getByText('Updated todo/forms/f1.').waitFor()
    expect((await rest(gw.url, 'GET', '/streams/todo/forms/f1')).body).toEqual({ id: 'f1', title: 'Edited in the form', done: true })

    const events = page.locator('#event-form')
    await events.locator('input[name="type"]').fill('deployed')
    await events.locator('textarea[name="data"]').fill('{"version": "0.2.0", "regions": ["eu", "us"]}')
    await events.getByRole('button', { name: 'Send event' }).click()
    await events.locator('.form-result').getByText('Sent "deployed" to todo/forms.').waitFor()
    await until(() => watcher.frames.some((f) => f.event.type === 'event'), 'the event at a subscriber')
    expect(watcher.frames.find((f) => f.event.type === 'event')!.event.event).toEqual({ type: 'deployed', data: { version: '0.2.0', regions: ['eu', 'us'] } })
    await events.locator('textarea[name="data"]').fill('{not json')
    await events.getByRole('button', { name: 'Send event' }).click()
    await events.locator('.field-error[data-for="data"]').getByText(/^Not JSON/).waitFor()

    await page.locator('#items tr[data-id="f1"]').getByRole('button', { name: 'Delete' }).click()
    await form.locator('.form-result').getByText('Deleted todo/forms/f1.').waitFor()
    expect((await rest(gw.url, 'GET', '/streams/todo/forms/f1')).status).toBe(404)
    await waitForRendered(page, eventKinds, ['delete f1', 'event deployed', 'update f1', 'create f1', 'sync'], 'what the forms did, as events')
    expect(watcher.frames.map((f) => f.event.type)).toEqual(['sync', 'create', 'update', 'event', 'delete'])
    // Deleting what is not there: the gateway's 404, in words.
    await form.getByRole('button', { name: 'Delete item' }).click()
    await form.locator('.form-errors').getByText('item "f1" not found in todo/forms (NOT_FOUND)').waitFor()
    watcher.close()
    expectClean(opened, gw, [404])
  })

  it('shows each schema violation next to the field it names, and writes nothing', async () => {
    const opened = await open(gw, '/inspector#/todo/schema')
    const { page } = opened
    await page.locator('#group-note').getByText('0 items, live.').waitFor()
    const form = page.locator('#put-form')
    await form.locator('input[name="id"]').fill('bad')
    const rows = [['title', ''], ['n', 'seven'], ['done', 'true']] as const
    for (const [i, [name, value]] of rows.entries()) {
      if (i > 0) await form.getByRole('button', { name: 'Add a field' }).click()
      await form.locator('.field-row').nth(i).locator('.field-name').fill(name)
      await form.locator('.field-row').nth(i).locator('.field-value').fill(value)
    }
    await form.getByRole('button', { name: 'Put item' }).click()
    // What REST says about the same item is what the page shows, field by field.
    const refusal = await put(gw, 'todo/schema/bad', { title: '', n: 'seven', done: true })
    expect(refusal.status).toBe(400)
    const byPath = Object.fromEntries((refusal.body.details as Array<{ path: string; message: string }>).map((d) => [d.path, d.message]))
    expect(Object.keys(byPath).sort()).toEqual(['n', 'title'])
    await waitForRendered(
      page,
      () => Array.from(document.querySelectorAll('#put-form .field-row')).map((r) => [r.getAttribute('data-field'), r.querySelector('.field-error')?.textContent]),
      [['title', byPath.title], ['n', byPath.n], ['done', '']],
      'each message at its field',
    )
    await form.locator('.form-errors').getByText("The stream's schema refused the item.").waitFor()
    expect((await rest(gw.url, 'GET', '/streams/todo/schema/bad')).status).toBe(404)

    // A required field with no row: the violation names it in the form's list.
    await form.locator('.field-row').first().getByRole('button', { name: 'remove this field' }).click()
    await form.getByRole('button', { name: 'Put item' }).click()
    const missing = (await put(gw, 'todo/schema/bad', { n: 'seven', done: true })).body.details.find((d: { path: string }) => d.path === 'title')
    await form.locator('.form-errors').getByText(`title: ${missing.message}`).waitFor()
    expect(await page.evaluate(() => document.querySelectorAll('#items tbody tr').length)).toBe(0)
    expectClean(opened, gw, [400, 400])
  })

  it('renders whatever a group holds as text: hostile ids and values, exactly as stored', async () => {
    const opened = await open(gw, '/inspector#/chat/hostile-0')
    const { page } = opened
    await page.locator('#group-note').getByText('0 items, live.').waitFor()
    await page.evaluate(() => {
      ;(window as unknown as { __alerts: number }).__alerts = 0
      window.alert = () => ((window as unknown as { __alerts: number }).__alerts += 1)
    })
    // Elements outside the lists that render data, and the tags those lists may hold.
    const fixedElements = () => Array.from(document.querySelectorAll('*')).filter((e) => !e.closest('#items tbody, #events, #groups, #transports tbody')).length
    const dataTags = () => [...new Set(Array.from(document.querySelectorAll('#items tbody *, #events *, #groups *')).map((e) => e.tagName))].sort()
    const elements = await page.evaluate(fixedElements)
    const name = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\u0000')),
      fc.constantFrom('<img src=x onerror=alert(1)>', '"><script>alert(1)</script>', "'; alert(1); '", '&lt;b&gt;', '\u202Eevil', 'a\nb'),
    )
    const key = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => !['__proto__', 'constructor', 'prototype', 'id'].includes(k))
    const data = fc.dictionary(key, fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant('<script>alert(1)</script>')), { maxKeys: 4 })
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(name, data), { selector: ([id]) => id, minLength: 1, maxLength: 5 }), async (items) => {
        const group = `hostile-${++run}`
        for (const [id, value] of items) expect((await put(gw, `chat/${group}/${encodeURIComponent(id)}`, value)).status).toBe(201)
        await page.evaluate((hash) => (location.hash = hash), `#/chat/${encodeURIComponent(group)}`)
        await waitForStored(opened, gw, 'chat', group, `group ${group}`)
      }),
      { numRuns: 12 },
    )
    // The data added rows and list entries, and nothing else: no element of its own, no script run.
    expect(await page.evaluate(fixedElements)).toBe(elements)
    expect(await page.evaluate(dataTags)).toEqual(['A', 'BUTTON', 'CODE', 'LI', 'SPAN', 'TD', 'TIME', 'TR'])
    expect(await page.evaluate(() => (window as unknown as { __alerts: number }).__alerts)).toBe(0)
    expectClean(opened, gw)
  })
})

describe('the inspector behind an authenticate hook', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ auth: true })
    await put(gw, 'private/alice/m1', { text: 'for alice' }, { authorization: 'Bearer alice' })
    await put(gw, 'private/bob/m1', { text: 'for bob' }, { authorization: 'Bearer bob' })
  })
  afterAll(async () => {
    await gw?.close()
  })

  const signIn = async (opened: Opened, token: string) => {
    await opened.page.locator('#token-prompt').waitFor()
    await opened.page.locator('#token-form input[name="token"]').fill(token)
    await opened.page.getByRole('button', { name: 'Use this token' }).click()
  }

  for (const transport of ['websocket', 'sse'] as const) {
    it(`asks for a token and uses it for every request and the ${transport} subscription`, async () => {
      const opened = await open(gw, `/inspector?transport=${transport}#/private/alice`)
      const { page } = opened
      expect(await page.locator('#app').isHidden()).toBe(true)
      await signIn(opened, 'bad')
      await page.locator('#token-error').getByText('The gateway refused this token.').waitFor()
      await signIn(opened, 'alice')
      await page.locator('#app').waitFor()
      await page.locator('#auth-label').getByText('with a token').waitFor()
      // canAccess lets alice read her group only: the subscription carried her token.
      const alice = { authorization: 'Bearer alice' }
      await waitForStored(opened, gw, 'private', 'alice', 'alice reads her group', alice)
      await put(gw, 'private/alice/m2', { text: 'live' }, alice)
      await waitForStored(opened, gw, 'private', 'alice', 'a write lands live', alice)
      await waitForRendered(page, () => Array.from(document.querySelectorAll('#groups li')).map((li) => li.getAttribute('data-group')), ['alice'], 'only the groups alice may read')

      const form = page.locator('#put-form')
      await form.locator('input[name="id"]').fill(`m-${transport}`)
      await form.locator('.field-row .field-name').fill('text')
      await form.locator('.field-row .field-value').fill('from the form')
      await form.getByRole('button', { name: 'Put item' }).click()
      await form.locator('.form-result').getByText(`Created private/alice/m-${transport}.`).waitFor()
      expect((await rest(gw.url, 'GET', `/streams/private/alice/m-${transport}`, undefined, alice)).body).toEqual({ id: `m-${transport}`, text: 'from the form' })

      await page.evaluate(() => (location.hash = '#/private/bob'))
      await page.locator('#group-note').getByText(/refused this subscription: Access denied/).waitFor()
      expect(await page.evaluate(() => document.querySelectorAll('#items tbody tr').length)).toBe(0)

      // The refused token, and over SSE the refused subscription (over WebSocket a refused join is a frame).
      expectClean(opened, gw, transport === 'sse' ? [401, 403] : [401])
      const calls = opened.requests.filter((r) => ['/inspector/status', '/streams', '/events'].some((p) => new URL(r.url()).pathname.startsWith(p)))
      expect(calls.length).toBeGreaterThan(3)
      // The refused attempt sent "bad"; everything after sent alice's token, in a header, never in a URL.
      const afterSignIn = calls.slice(calls.findIndex((r) => r.headers().authorization === 'Bearer alice'))
      for (const request of afterSignIn) expect(request.headers().authorization, request.url()).toBe('Bearer alice')
      for (const url of [...opened.requests.map((r) => r.url()), ...opened.sockets]) expect(url).not.toMatch(/authToken/)
      expect(transport === 'sse' ? calls.some((r) => new URL(r.url()).pathname === '/events') : opened.sockets.length > 0).toBe(true)
    })
  }

  it('can go on without a token, and then reads what anonymous callers may', async () => {
    const opened = await open(gw, '/inspector#/private/alice')
    await opened.page.getByRole('button', { name: 'Continue without a token' }).click()
    await opened.page.locator('#auth-label').getByText('without a token').waitFor()
    await opened.page.locator('#group-note').getByText(/refused this subscription: Access denied/).waitFor()
    await opened.page.getByRole('button', { name: 'change' }).click()
    await opened.page.locator('#token-prompt').waitFor()
    expectClean(opened, gw)
  })
})
