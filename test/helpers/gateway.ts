import { pino } from 'pino'
import { loadHooks, loadStreams } from '../../gateway/config/load-modules.ts'
import { createGateway, type ServerOptions, type StreamgateServer } from '../../gateway/server.ts'

export const FIXTURE_STREAMS = new URL('../fixtures/streams', import.meta.url).pathname
export const AUTH_CONFIG = new URL('../fixtures/auth.config.ts', import.meta.url).pathname

export interface TestGateway {
  server: StreamgateServer
  url: string
  wsUrl: string
  port: number
  close(): Promise<void>
}

/**
 * A real gateway on an ephemeral loopback port, loaded the way the CLI loads it. `auth: true` uses
 * test/fixtures/auth.config.ts. Pass `port` to restart on the same address.
 */
export async function startGateway(
  options: Partial<ServerOptions> & { auth?: boolean; port?: number; streamDirs?: string[] } = {},
): Promise<TestGateway> {
  const { auth, port = 0, streamDirs = [FIXTURE_STREAMS], ...rest } = options
  const server = await createGateway({
    streams: await loadStreams(streamDirs),
    hooks: auth ? await loadHooks(AUTH_CONFIG) : {},
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...rest,
  })
  const url = await server.listen(port, '127.0.0.1')
  return { server, url, wsUrl: url.replace('http', 'ws'), port: Number(new URL(url).port), close: () => server.close() }
}

/** Resolves when `check` returns a truthy value; rejects with `what` after `ms`. */
export async function until<T>(check: () => T | Promise<T>, what: string, ms = 10_000): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value as Exclude<T, undefined | null | false>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export async function rest(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers }
}
