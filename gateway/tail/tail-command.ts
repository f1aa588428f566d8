import { Stream } from '../../clients/typescript/src/stream.ts'
import type { StreamError } from '../../clients/typescript/src/types.ts'
import { formatTarget, parseTailOptions, tailUsage } from './tail-options.ts'

/** The innermost cause of a failed connection: `connect ECONNREFUSED 127.0.0.1:3000` rather than `fetch failed`. */
function reason(error: StreamError): string {
  let cause: unknown = error.cause
  let message = error.message
  while (cause instanceof Error) {
    message = cause.message
    cause = cause.cause
  }
  return message
}

/**
 * `streamgate tail`: our client over SSE (fetch, so the token goes in a header), printing each frame of the
 * log as one JSON line. The client keeps the resume token and reconnects with back-off; a refusal, a
 * refused token, or a gateway that cannot be reached at the start ends the command with one line.
 */
export function tail(argv: string[], env: NodeJS.ProcessEnv) {
  let options
  try {
    options = parseTailOptions(argv, env)
  } catch (error) {
    console.error(`streamgate tail: ${(error as Error).message}\n\n${tailUsage}`)
    process.exit(2)
  }
  if (options === 'help') return console.log(tailUsage)
  const { address, url, token } = options
  const target = formatTarget(address)
  let opened = false
  let lost = false

  const stop = (code: number, message?: string) => {
    stream.close()
    if (message) console.error(`streamgate tail: ${message}`)
    process.exit(code)
  }
  const onError = (error: StreamError) => {
    if (error.kind === 'refused') return stop(1, `${target}: ${error.message} (${error.code})`)
    if (error.kind === 'auth') return stop(1, `${url} refused the token: ${error.message}`)
    if (error.kind !== 'connection') return
    const why = error.code ? `${error.message} (${error.code})` : reason(error)
    if (!opened) return stop(1, `cannot reach ${url}: ${why}`)
    if (!lost) console.error(`streamgate tail: connection lost (${why}); reconnecting`)
    lost = true
  }
  const stream = new Stream(url, {
    transport: 'sse',
    auth: token ?? null,
    backoff: { maxMs: 5000 },
    onError,
    // Frames of the log carry a sequence; a refusal does not, and is reported by onError.
    onFrame: (frame) => {
      if (typeof frame.sequence === 'number') process.stdout.write(`${JSON.stringify(frame)}\n`)
    },
  })
  stream.onStatusChange((status) => {
    if (status !== 'open') return
    opened = true
    if (lost) console.error('streamgate tail: reconnected')
    lost = false
  })
  if (address.id === undefined) stream.subscribeGroup(address.streamName, address.groupId)
  else stream.subscribeItem(address.streamName, address.groupId, address.id)

  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  // A reader that went away (`| head -1`) ends the command quietly.
  process.stdout.on('error', () => stop(0))
}
