import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { StreamgateServer } from '../../gateway/server.ts'
import type { StreamHandle } from '../../gateway/core/streams-api.ts'

/** The example streams the demo writes to (`openai` and `todo`). */
export const DEMO_STREAMS = fileURLToPath(new URL('../streams', import.meta.url))

const PAGE_ENTRY = fileURLToPath(new URL('./page.tsx', import.meta.url))

export interface DemoOptions {
  /** Pause between two tokens of the fake model. */
  tokenDelayMs?: number
}

/** What the fake model answers: it echoes the prompt, so you can see your own words come back. */
export function cannedAnswer(prompt: string): string {
  const words = prompt.trim().split(/\s+/).filter(Boolean).join(' ')
  return `You asked: "${words}". This answer comes from a tiny fake model inside the demo server, no network involved. ` +
    'Every word is written with streams.openai.set() and pushed to your browser over the Motia WebSocket protocol.'
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })

/** A stand-in for an LLM's streaming completion: the canned answer, one word (with its space) at a time. */
export async function* fakeCompletion(prompt: string, delayMs: number, signal: AbortSignal): AsyncGenerator<string> {
  const tokens = cannedAnswer(prompt).match(/\S+\s*/g) ?? []
  for (const token of tokens) {
    await sleep(delayMs, signal)
    yield token
  }
}

function stream(server: StreamgateServer, name: string): StreamHandle {
  const handle = server.streams[name]
  if (!handle) throw new Error(`the demo needs the "${name}" stream: load examples/streams (--streams)`)
  return handle
}

/**
 * The demo's routes, added to a gateway before it listens (pass it as the CLI's `extend`):
 * - `POST /open-ai` {message}: Motia's open-ai example without the network. Replies at once with the empty
 *   item (with its `__motia` marker), then fills `openai/<traceId>/message` token by token.
 * - `GET /` and `GET /demo.js`: a React page (examples/demo/page.tsx, bundled in memory by esbuild at startup)
 *   that renders that answer and the live `todo/inbox` group with @motiadev/stream-client-react.
 */
export async function demoRoutes(server: StreamgateServer, options: DemoOptions = {}): Promise<void> {
  const tokenDelayMs = options.tokenDelayMs ?? 40
  const openai = stream(server, 'openai')
  stream(server, 'todo')
  const { app } = server

  const bundle = await build({
    entryPoints: [PAGE_ENTRY],
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  })
  const script = bundle.outputFiles[0]?.text
  if (script === undefined) throw new Error('esbuild produced no output for examples/demo/page.tsx')

  // Answers still being written; stopped when the server closes so no write hits a closed store.
  const running = new Set<AbortController>()
  app.addHook('onClose', async () => {
    for (const controller of running) controller.abort(new Error('server closing'))
  })

  const fill = async (traceId: string, prompt: string) => {
    const controller = new AbortController()
    running.add(controller)
    let soFar = ''
    try {
      for await (const token of fakeCompletion(prompt, tokenDelayMs, controller.signal)) {
        soFar += token
        await openai.set(traceId, 'message', { message: soFar.trimEnd() })
      }
    } catch (error) {
      if (!controller.signal.aborted) app.log.error({ err: error, traceId }, 'fake completion failed')
    } finally {
      running.delete(controller)
    }
  }

  app.post('/open-ai', async (request, reply) => {
    const body = request.body as { message?: unknown } | undefined
    if (typeof body !== 'object' || body === null || typeof body.message !== 'string') {
      return reply.status(400).send({ code: 'INVALID_ARGUMENT', message: 'body must be {"message": string}' })
    }
    const traceId = randomUUID()
    const result = await openai.set(traceId, 'message', { message: '' })
    reply.status(200).send(result)
    // The first token is written a token delay after the reply, as Motia's example streams OpenAI's answer.
    void fill(traceId, body.message)
    return reply
  })

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE_HTML))
  app.get('/demo.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script))
}

const PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>streamgate demo</title>
    <link rel="icon" href="data:,">
    <style>
      body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
      input[type=text] { width: 70%; }
      output { display: block; min-height: 3em; padding: .5em; background: #f4f4f4; white-space: pre-wrap; }
      code { background: #f4f4f4; padding: 0 .2em; }
      .done { text-decoration: line-through; }
    </style>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/demo.js"></script>
  </body>
</html>
`
