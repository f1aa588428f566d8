import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's Chromium. The tests never download a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Headless Chromium with a fresh profile (playwright-core makes one per launch). A missing browser is a
 * failure with the install command, never a skip.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is missing at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (the browser tests never download one)`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] })
}

/** Uncaught page errors and console errors, to assert a clean run. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}`)
  })
  return errors
}

/**
 * Waits until `read()` (evaluated in the page) returns a value deep-equal to `expected`; on timeout the
 * error shows what the page last rendered.
 */
export async function waitForRendered<T>(page: Page, read: () => T, expected: T, what: string, timeout = 10_000): Promise<void> {
  const readExpression = `(${read.toString()})()`
  try {
    await page.waitForFunction(`JSON.stringify(${readExpression}) === ${JSON.stringify(JSON.stringify(expected))}`, undefined, { timeout })
  } catch (error) {
    const rendered = await page.evaluate(readExpression).catch((e: Error) => `<unreadable: ${e.message}>`)
    throw new Error(`${what}: timed out\n  expected ${JSON.stringify(expected)}\n  rendered ${JSON.stringify(rendered)}\n  (${(error as Error).message.split('\n')[0]})`)
  }
}
