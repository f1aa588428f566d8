import { parseArgs } from 'node:util'
import type { Limits } from '../core/limits.ts'
import { defaultHttpSettings, type HttpSettings } from '../http/http-settings.ts'

export interface CliOptions {
  port: number
  host: string
  streams: string[]
  config?: string
  tls?: { cert: string; key: string }
  redis?: { url: string; prefix?: string }
  corsOrigins: string[]
  sseMaxLifetimeMs?: number
  logLevel: string
  limits: Partial<Limits>
  http: Partial<HttpSettings>
}

export const usage = `Usage: streamgate [options]

  --port N                 port for HTTP, WebSocket and gRPC       STREAMGATE_PORT (3000)
  --host ADDR              address to bind                         STREAMGATE_HOST (127.0.0.1)
  --streams DIR            folder of *.stream.ts|js|mjs files;     STREAMGATE_STREAMS (comma-separated)
                           repeatable
  --config FILE            module with hooks such as authenticate  STREAMGATE_CONFIG
  --tls-cert FILE          PEM certificate: the port then speaks   STREAMGATE_TLS_CERT
                           HTTPS (HTTP/2 + HTTP/1.1) and wss://
  --tls-key FILE           PEM private key for --tls-cert          STREAMGATE_TLS_KEY
  --redis URL              keep stream state in Redis, shared by   STREAMGATE_REDIS_URL
                           every instance on it                    (memory store)
  --redis-prefix PREFIX    key and channel prefix, so deployments  STREAMGATE_REDIS_PREFIX
                           can share one Redis                     (streamgate:)
  --cors-origin ORIGIN     browser origin allowed to use REST and  STREAMGATE_CORS_ORIGINS
                           SSE; repeatable                         (comma-separated)
  --sse-max-lifetime S     end SSE streams after S seconds (plus   STREAMGATE_SSE_MAX_LIFETIME
                           jitter); clients resume                 (unlimited)
  --log-level LEVEL        pino level                              STREAMGATE_LOG_LEVEL (info)
  --max-item-bytes N       largest item accepted                   STREAMGATE_MAX_ITEM_BYTES (1048576)
  --max-frame-bytes N      largest WebSocket frame accepted        STREAMGATE_MAX_FRAME_BYTES (4194304)
  --max-subscriptions N    subscriptions per connection            STREAMGATE_MAX_SUBSCRIPTIONS (1000)
  --max-queue-bytes N      unsent bytes before a slow connection   STREAMGATE_MAX_QUEUE_BYTES (16777216)
                           is closed
  --first-bytes-timeout-ms N                                       STREAMGATE_FIRST_BYTES_TIMEOUT_MS (10000)
                           a new connection's first bytes (TLS
                           handshake, HTTP/2 preface) within N ms
  --headers-timeout-ms N   HTTP/1.1 request headers within N ms    STREAMGATE_HEADERS_TIMEOUT_MS (10000)
  --request-timeout-ms N   HTTP/1.1 whole request within N ms      STREAMGATE_REQUEST_TIMEOUT_MS (30000)
  --idle-timeout-ms N      close keep-alive connections and HTTP/2 STREAMGATE_IDLE_TIMEOUT_MS (72000)
                           sessions idle for N ms
  --max-header-bytes N     request line and headers (HTTP/2:       STREAMGATE_MAX_HEADER_BYTES (16384)
                           header list)
  --max-session-memory N   bytes one HTTP/2 session may use        STREAMGATE_MAX_SESSION_MEMORY (33554432)
  --max-connections N      open connections; more are closed       STREAMGATE_MAX_CONNECTIONS (50000)
  --help`

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${value}"`)
  return n
}

/** Flags win over environment variables, which win over the defaults. */
export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv): CliOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      streams: { type: 'string', multiple: true },
      config: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      'sse-max-lifetime': { type: 'string' },
      'log-level': { type: 'string' },
      'max-item-bytes': { type: 'string' },
      'max-frame-bytes': { type: 'string' },
      'max-subscriptions': { type: 'string' },
      'max-queue-bytes': { type: 'string' },
      'first-bytes-timeout-ms': { type: 'string' },
      'headers-timeout-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
      'max-header-bytes': { type: 'string' },
      'max-session-memory': { type: 'string' },
      'max-connections': { type: 'string' },
      help: { type: 'boolean' },
    },
  })
  if (values.help) return 'help'
  const pick = (flag: keyof typeof values, variable: string) => (values[flag] as string | undefined) ?? env[variable]
  const limits: Partial<Limits> = {}
  const set = (key: keyof Limits, flag: keyof typeof values, variable: string) => {
    const n = integer(`--${flag}`, pick(flag, variable))
    if (n !== undefined) limits[key] = n
  }
  set('maxItemBytes', 'max-item-bytes', 'STREAMGATE_MAX_ITEM_BYTES')
  set('maxFrameBytes', 'max-frame-bytes', 'STREAMGATE_MAX_FRAME_BYTES')
  set('maxSubscriptionsPerConnection', 'max-subscriptions', 'STREAMGATE_MAX_SUBSCRIPTIONS')
  set('maxQueueBytes', 'max-queue-bytes', 'STREAMGATE_MAX_QUEUE_BYTES')
  const http: Partial<HttpSettings> = {}
  const setHttp = (key: keyof HttpSettings, flag: keyof typeof values, variable: string) => {
    const n = integer(`--${flag}`, pick(flag, variable))
    if (n === 0) throw new Error(`--${flag} must be at least 1`)
    if (n !== undefined) http[key] = n
  }
  setHttp('firstBytesTimeoutMs', 'first-bytes-timeout-ms', 'STREAMGATE_FIRST_BYTES_TIMEOUT_MS')
  setHttp('headersTimeoutMs', 'headers-timeout-ms', 'STREAMGATE_HEADERS_TIMEOUT_MS')
  setHttp('requestTimeoutMs', 'request-timeout-ms', 'STREAMGATE_REQUEST_TIMEOUT_MS')
  setHttp('idleTimeoutMs', 'idle-timeout-ms', 'STREAMGATE_IDLE_TIMEOUT_MS')
  setHttp('maxHeaderBytes', 'max-header-bytes', 'STREAMGATE_MAX_HEADER_BYTES')
  setHttp('maxSessionMemoryBytes', 'max-session-memory', 'STREAMGATE_MAX_SESSION_MEMORY')
  setHttp('maxConnections', 'max-connections', 'STREAMGATE_MAX_CONNECTIONS')
  const { headersTimeoutMs, requestTimeoutMs } = { ...defaultHttpSettings, ...http }
  // Node refuses a headers timeout longer than the request timeout; so does the command line, in one line.
  if (headersTimeoutMs > requestTimeoutMs) throw new Error(`--headers-timeout-ms (${headersTimeoutMs}) must not exceed --request-timeout-ms (${requestTimeoutMs})`)
  const lifetime = integer('--sse-max-lifetime', pick('sse-max-lifetime', 'STREAMGATE_SSE_MAX_LIFETIME'))
  const cert = pick('tls-cert', 'STREAMGATE_TLS_CERT')
  const key = pick('tls-key', 'STREAMGATE_TLS_KEY')
  if (Boolean(cert) !== Boolean(key)) throw new Error('--tls-cert and --tls-key go together')
  const redisUrl = pick('redis', 'STREAMGATE_REDIS_URL')
  const redisPrefix = pick('redis-prefix', 'STREAMGATE_REDIS_PREFIX')
  if (redisPrefix !== undefined && !redisUrl) throw new Error('--redis-prefix needs --redis')
  return {
    tls: cert && key ? { cert, key } : undefined,
    redis: redisUrl ? { url: redisUrl, prefix: redisPrefix } : undefined,
    corsOrigins: values['cors-origin'] ?? env.STREAMGATE_CORS_ORIGINS?.split(',').filter(Boolean) ?? [],
    sseMaxLifetimeMs: lifetime === undefined ? undefined : lifetime * 1000,
    port: integer('--port', pick('port', 'STREAMGATE_PORT')) ?? 3000,
    host: pick('host', 'STREAMGATE_HOST') ?? '127.0.0.1',
    streams: values.streams ?? env.STREAMGATE_STREAMS?.split(',').filter(Boolean) ?? [],
    config: pick('config', 'STREAMGATE_CONFIG'),
    logLevel: pick('log-level', 'STREAMGATE_LOG_LEVEL') ?? 'info',
    limits,
    http,
  }
}
