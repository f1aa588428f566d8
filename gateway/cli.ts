import { readFile } from 'node:fs/promises'
import { pino } from 'pino'
import { parseCliOptions, usage } from './config/cli-options.ts'
import { loadHooks, loadStreams } from './config/load-modules.ts'
import { createServer, type ServerOptions } from './server.ts'

/** Starts a gateway from flags and environment, and stops it cleanly on SIGINT/SIGTERM. */
export async function main(argv: string[], extend?: (server: Awaited<ReturnType<typeof createServer>>) => Promise<void>) {
  let options
  try {
    options = parseCliOptions(argv, process.env)
  } catch (error) {
    console.error(`streamgate: ${(error as Error).message}\n\n${usage}`)
    process.exit(2)
  }
  if (options === 'help') {
    console.log(usage)
    return
  }
  const logger = pino({ level: options.logLevel })
  const serverOptions: ServerOptions = {
    streams: await loadStreams(options.streams),
    hooks: options.config ? await loadHooks(options.config) : {},
    limits: options.limits,
    http: options.http,
    corsOrigins: options.corsOrigins,
    sse: { maxLifetimeMs: options.sseMaxLifetimeMs },
    tls: options.tls && { cert: await readFile(options.tls.cert), key: await readFile(options.tls.key) },
    redis: options.redis,
    logger,
  }
  if (serverOptions.streams.length === 0) logger.warn('no streams defined: pass --streams DIR')
  let server
  try {
    server = await createServer(serverOptions)
  } catch (error) {
    // An unreachable or unsuitable Redis (or a bad stream definition): one clear line, no stack.
    console.error(`streamgate: ${(error as Error).message}`)
    process.exit(1)
  }
  await extend?.(server)
  const url = await server.listen(options.port, options.host)
  logger.info({ streams: server.gateway.listStreams() }, `streamgate listening on ${url} (WebSocket ${url.replace('http', 'ws')})`)

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    await server.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}
