// Imports only what parsing the command line needs: `--help`, `--version` and `tail` answer without loading
// the server, fastify or a TypeScript loader, which come in with the first real start.
import { readFile } from 'node:fs/promises'
import { type CliOptions, parseCliOptions, usage } from './config/cli-options.ts'
import { StartupError, UsageError } from './config/startup-errors.ts'
import type { StreamgateServer } from './server.ts'
import { packageVersion } from './version.ts'

/** Prints why the gateway cannot start, in one line, and exits non-zero. */
function fail(error: unknown): never {
  if (error instanceof StartupError) {
    console.error(`streamgate: ${error.message}${error instanceof UsageError ? ' (streamgate --help lists the options)' : ''}`)
    process.exit(error.exitCode)
  }
  const message = error instanceof Error ? error.message : String(error)
  console.error(`streamgate: ${message.split('\n')[0]}`)
  process.exit(1)
}

async function readPem(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (error) {
    throw new StartupError(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`)
  }
}

/** The listen failures a user can fix, named by the address. */
function listenFailure(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(`port ${port} on ${host} is already in use (--port, STREAMGATE_PORT or PORT picks another)`)
    case 'EACCES':
      return new StartupError(`port ${port} on ${host}: permission denied (ports below 1024 need privileges)`)
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`--host ${host} is not an address of this machine`)
    default:
      return error
  }
}

async function start(options: CliOptions, extend?: (server: StreamgateServer) => Promise<void>) {
  const [{ pino }, { loadHooks, loadStreams }, { createGateway }] = await Promise.all([
    import('pino'),
    import('./config/load-modules.ts'),
    import('./server.ts'),
  ])
  const logger = pino({ level: options.logLevel })
  const streams = await loadStreams(options.streams)
  const hooks = options.config ? await loadHooks(options.config) : {}
  const tls = options.tls && { cert: await readPem('--tls-cert', options.tls.cert), key: await readPem('--tls-key', options.tls.key) }
  if (streams.length === 0) logger.warn('no streams defined: pass --streams DIR')
  const server = await createGateway({
    streams,
    hooks,
    limits: options.limits,
    http: options.http,
    corsOrigins: options.corsOrigins,
    sse: { maxLifetimeMs: options.sseMaxLifetimeMs },
    tls,
    redis: options.redis,
    inspector: options.inspector,
    durable: options.durable,
    idempotencyTtlSeconds: options.idempotencyTtlSeconds,
    logger,
  })
  await extend?.(server)
  const url = await server.listen(options.port, options.host).catch((error) => {
    throw listenFailure(error, options.host, options.port)
  })
  return { server, logger, url }
}

/**
 * Starts a gateway from flags and environment, and stops it cleanly on SIGINT/SIGTERM: `/readyz` turns 503,
 * the port stays open for the drain delay (a second signal cuts it short), then it closes.
 */
export async function main(argv: string[], extend?: (server: StreamgateServer) => Promise<void>) {
  // `tail` is a client: it loads none of the server, so it starts in a fraction of the time.
  if (argv[0] === 'tail') return (await import('./tail/tail-command.ts')).tail(argv.slice(1), process.env)
  let options: ReturnType<typeof parseCliOptions>
  try {
    options = parseCliOptions(argv, process.env)
  } catch (error) {
    fail(error)
  }
  if (options === 'help') return console.log(usage)
  if (options === 'version') return console.log(packageVersion())
  const { drainDelayMs } = options
  const { server, logger, url } = await start(options, extend).catch(fail)

  const drain = new AbortController()
  let signals = 0
  const stop = async (signal: string) => {
    if (++signals > 1) return drain.abort()
    logger.info({ signal, drainDelayMs }, 'shutting down')
    await server.close({ drainDelayMs, signal: drain.signal })
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  // Under npm (`npx streamgate`, `npm start`) the gateway runs below a shell that npm kills on SIGTERM
  // without passing the signal on: when that parent goes, stop as if signalled instead of living on orphaned.
  if (process.env.npm_lifecycle_event) {
    const parent = process.ppid
    const watch = setInterval(() => {
      if (process.ppid === parent) return
      clearInterval(watch)
      void stop('parent exited')
    }, 250).unref()
  }
  // Printed once a signal is handled: whoever waits for this line may stop the gateway right away.
  logger.info({ streams: server.gateway.listStreams() }, `streamgate listening on ${url} (WebSocket ${url.replace('http', 'ws')})`)
}
