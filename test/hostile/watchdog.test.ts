import { afterEach, describe, expect, it } from 'vitest'
import { until } from '../helpers/gateway.ts'
import { GatewayProcess } from '../helpers/gateway-process.ts'
import { rawRequest } from '../helpers/http-clients.ts'
import { Watchdog } from '../helpers/watchdog.ts'

/** The watchdog fails a test for each thing it is there to catch, and for nothing else. */

const STALLING_SERVER = new URL('../fixtures/stalling-server.mjs', import.meta.url).pathname
let server: GatewayProcess | undefined
let watchdog: Watchdog | undefined
afterEach(async () => {
  await watchdog?.stop()
  await server?.stop('SIGKILL')
  server = watchdog = undefined
})

async function watched() {
  server = await GatewayProcess.launch({ bin: STALLING_SERVER })
  watchdog = await Watchdog.start(server)
  return { server, watchdog }
}

describe('the watchdog', () => {
  it('passes a process that answers in time, and reports how many answers it got', async () => {
    const { watchdog } = await watched()
    await new Promise((r) => setTimeout(r, 1000))
    await watchdog.assertHealthy()
    const summary = await watchdog.stop()
    expect(summary.answers).toBeGreaterThan(10)
    expect(summary.maxMs).toBeLessThan(100)
  })

  it('fails when the event loop is kept busy for longer than the budget, not for a shorter stall', async () => {
    const { server, watchdog } = await watched()
    await rawRequest(server.port, 'GET', '/stall?ms=40')
    await new Promise((r) => setTimeout(r, 100))
    await watchdog.assertHealthy()
    await rawRequest(server.port, 'GET', '/stall?ms=400')
    await expect(watchdog.assertHealthy()).rejects.toThrow(/waited while the gateway ran for (more than )?\d+ ms/)
  })

  it('does not judge what a test exempts (its own instruments)', async () => {
    const { server, watchdog } = await watched()
    await watchdog.exempt(() => rawRequest(server.port, 'GET', '/stall?ms=400'))
    await watchdog.assertHealthy()
  })

  it('fails on an error-level log line and on an exit nobody asked for', async () => {
    const { server, watchdog } = await watched()
    await rawRequest(server.port, 'GET', '/log-error')
    await until(() => server.lines.some((l) => l.json?.level === 50), 'the error line')
    await expect(watchdog.assertHealthy()).rejects.toThrow(/something failed/)
    await rawRequest(server.port, 'GET', '/crash').catch(() => {})
    await until(() => server.exited, 'the crash')
    await expect(watchdog.assertHealthy()).rejects.toThrow(/crash on request[\s\S]*the process exited/)
  })
})
