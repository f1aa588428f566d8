import { afterAll, afterEach, beforeAll } from 'vitest'
import { GatewayProcess, type LaunchOptions } from './gateway-process.ts'
import { rawRequest } from './http-clients.ts'
import { TestRedis } from './redis-server.ts'
import { Watchdog } from './watchdog.ts'

export interface Watched {
  gateway: GatewayProcess
  watchdog: Watchdog
  /** The block's own Redis, when asked for. */
  redis: TestRedis | undefined
}

/**
 * The hooks of a hostile test block: before it, a gateway process launched with `options` (given the
 * block's own Redis when `withRedis`) and a watchdog on it, which `ready` receives; after every test, the
 * watchdog's verdict; after the block, everything stopped.
 */
export function watchGateway(options: LaunchOptions | ((redis: TestRedis | undefined) => LaunchOptions), ready: (watched: Watched) => void, withRedis = false) {
  let watched: Watched | undefined
  beforeAll(async () => {
    const redis = withRedis ? await TestRedis.start() : undefined
    const gateway = await GatewayProcess.launch(typeof options === 'function' ? options(redis) : options)
    watched = { gateway, redis, watchdog: await Watchdog.start(gateway) }
    ready(watched)
  })
  afterEach(() => watched?.watchdog.assertHealthy())
  afterAll(async () => {
    await watched?.watchdog.stop()
    await watched?.gateway.stop()
    await watched?.redis?.close()
  })
}

/**
 * Bytes of data the gateway still holds after garbage collection (GET /test/heap of the instrumented
 * gateway, run with --expose-gc). A forced collection stops the gateway for as long as its heap takes: the
 * watchdog does not judge it.
 */
export const retainedBytes = (gateway: GatewayProcess, watchdog: Watchdog) =>
  watchdog.exempt(async () => (await rawRequest(gateway.port, 'GET', '/test/heap')).json.retained as number)
