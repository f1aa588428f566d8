import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { DEFAULT_IDEMPOTENCY_TTL_SECONDS } from '../core/conditions.ts'
import type { Limits } from '../core/limits.ts'
import { defaultHttpSettings, type HttpSettings } from '../http/http-settings.ts'
import { UsageError } from './startup-errors.ts'

export interface CliOptions {
  port: number
  host: string
  streams: string[]
  config?: string
  tls?: { cert: string; key: string }
  redis?: { url: string; prefix?: string }
  /** The store unless `--memory` or `--redis` says otherwise. */
  durable?: { dataDir: string; fsync: boolean }
  corsOrigins: string[]
  sseMaxLifetimeMs?: number
  logLevel: string
  limits: Partial<Limits>
  inspector: boolean
  /** How long /readyz answers 503 before the port closes on SIGTERM/SIGINT. */
  drainDelayMs: number
  http: Partial<HttpSettings>
  /** How long an Idempotency-Key's answer is remembered (seconds). */
  idempotencyTtlSeconds: number
}

export const usage = `Usage: streamgate [options]
       streamgate tail <stream>/<group>[/<id>] [--url URL] [--token TOKEN]   (see streamgate tail --help)

  --port N                 port for HTTP, WebSocket and gRPC       STREAMGATE_PORT, else PORT (3000)
  --host ADDR              address to bind                         STREAMGATE_HOST (127.0.0.1)
  --streams DIR            folder of *.stream.ts|js|mjs files;     STREAMGATE_STREAMS (comma-separated)
                           repeatable
  --config FILE            module with hooks such as authenticate  STREAMGATE_CONFIG
  --tls-cert FILE          PEM certificate: the port then speaks   STREAMGATE_TLS_CERT
                           HTTPS (HTTP/2 + HTTP/1.1) and wss://
  --tls-key FILE           PEM private key for --tls-cert          STREAMGATE_TLS_KEY
  --data-dir DIR           keep stream state on disk in DIR (the   STREAMGATE_DATA_DIR
                           default store)                          (./.streamgate)
  --fsync                  acknowledge writes once on the disk     STREAMGATE_FSYNC=1
                           (power-loss safe), not only committed
  --memory                 keep stream state in memory only: a     STREAMGATE_MEMORY=1
                           restart starts empty
  --redis URL              keep stream state in Redis, shared by   STREAMGATE_REDIS_URL
                           every instance on it
  --redis-prefix PREFIX    key and channel prefix, so deployments  STREAMGATE_REDIS_PREFIX
                           can share one Redis                     (streamgate:)
  --idempotency-ttl S       remember an Idempotency-Key's answer    STREAMGATE_IDEMPOTENCY_TTL
                           for S seconds                           (86400)
  --cors-origin ORIGIN     browser origin allowed to use REST and  STREAMGATE_CORS_ORIGINS
                           SSE; repeatable                         (comma-separated)
  --sse-max-lifetime S     end SSE streams after S seconds (plus   STREAMGATE_SSE_MAX_LIFETIME
                           jitter); clients resume                 (unlimited)
  --log-level LEVEL        pino level                              STREAMGATE_LOG_LEVEL (info)
  --max-item-bytes N       largest item accepted                   STREAMGATE_MAX_ITEM_BYTES (1048576)
  --max-frame-bytes N      largest WebSocket frame accepted        STREAMGATE_MAX_FRAME_BYTES (4194304)
  --max-name-bytes N       longest stream name, group or item id   STREAMGATE_MAX_NAME_BYTES (256)
  --max-depth N            deepest nesting in items and events     STREAMGATE_MAX_DEPTH (32)
  --max-subscriptions N    subscriptions per connection            STREAMGATE_MAX_SUBSCRIPTIONS (1000)
  --conflate-bytes N       unsent bytes past which a connection's  STREAMGATE_CONFLATE_BYTES (1048576)
                           pending changes of one item are merged
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
  --no-inspector           do not serve the /inspector page        STREAMGATE_NO_INSPECTOR=1
  --drain-delay S          on SIGTERM/SIGINT, /readyz answers 503  STREAMGATE_DRAIN_DELAY (0)
                           for S seconds before the port closes
                           (a second signal cuts it short)
  -h, --help               this text
  --version                the version`

function integer(name: string, value: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new UsageError(`${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from 0 to ${max}` : ''}, got "${value}"`)
  }
  return n
}

/** The longest a Node timer waits; a longer one fires at once. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000)

function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isFinite(n) || n < 0 || n > MAX_TIMER_SECONDS) {
    throw new UsageError(`${name} must be a number of seconds from 0 to ${MAX_TIMER_SECONDS}, got "${value}"`)
  }
  return Math.round(n * 1000)
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function logLevel(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && !LOG_LEVELS.includes(value)) throw new UsageError(`${name} must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`)
  return value
}

/** node:util's parseArgs refusals, in one line each. */
function parseFlags(argv: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    const { code, message } = error as { code?: string; message: string }
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? ''
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${flag}`)
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (message.includes('ambiguous')) throw new UsageError(`${flag} needs a value; write ${flag}=-... for one that starts with "-"`)
        throw new UsageError(`${flag} needs a value`)
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}: every setting is a --flag`)
      default:
        throw new UsageError(message.split('\n')[0]!)
    }
  }
}

/** A setting's value and where it came from (the flag or the variable), for error messages. */
type Setting = [source: string, value: string | undefined]

/** Flags win over environment variables, which win over the defaults. */
export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv): CliOptions | 'help' | 'version' {
  const values = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    streams: { type: 'string', multiple: true },
    config: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'data-dir': { type: 'string' },
    fsync: { type: 'boolean' },
    memory: { type: 'boolean' },
    redis: { type: 'string' },
    'redis-prefix': { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
    'idempotency-ttl': { type: 'string' },
    'sse-max-lifetime': { type: 'string' },
    'log-level': { type: 'string' },
    'max-item-bytes': { type: 'string' },
    'max-frame-bytes': { type: 'string' },
    'max-subscriptions': { type: 'string' },
    'max-name-bytes': { type: 'string' },
    'max-depth': { type: 'string' },
    'conflate-bytes': { type: 'string' },
    'max-queue-bytes': { type: 'string' },
    'first-bytes-timeout-ms': { type: 'string' },
    'headers-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'idle-timeout-ms': { type: 'string' },
    'max-header-bytes': { type: 'string' },
    'max-session-memory': { type: 'string' },
    'max-connections': { type: 'string' },
    'no-inspector': { type: 'boolean' },
    'drain-delay': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  })
  if (values.help) return 'help'
  if (values.version) return 'version'
  const pick = (flag: string, ...variables: string[]): Setting => {
    if (values[flag] !== undefined) return [`--${flag}`, values[flag] as string]
    const variable = variables.find((name) => env[name] !== undefined)
    return variable ? [variable, env[variable]] : [`--${flag}`, undefined]
  }
  const limits: Partial<Limits> = {}
  const set = (key: keyof Limits, flag: string, variable: string) => {
    const n = integer(...pick(flag, variable))
    if (n !== undefined) limits[key] = n
  }
  set('maxItemBytes', 'max-item-bytes', 'STREAMGATE_MAX_ITEM_BYTES')
  set('maxFrameBytes', 'max-frame-bytes', 'STREAMGATE_MAX_FRAME_BYTES')
  set('maxSubscriptionsPerConnection', 'max-subscriptions', 'STREAMGATE_MAX_SUBSCRIPTIONS')
  set('maxNameBytes', 'max-name-bytes', 'STREAMGATE_MAX_NAME_BYTES')
  set('maxDepth', 'max-depth', 'STREAMGATE_MAX_DEPTH')
  set('conflateBytes', 'conflate-bytes', 'STREAMGATE_CONFLATE_BYTES')
  set('maxQueueBytes', 'max-queue-bytes', 'STREAMGATE_MAX_QUEUE_BYTES')
  const http: Partial<HttpSettings> = {}
  const setHttp = (key: keyof HttpSettings, flag: string, variable: string) => {
    const [source, value] = pick(flag, variable)
    const n = integer(source, value)
    if (n === 0) throw new UsageError(`${source} must be at least 1`)
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
  if (headersTimeoutMs > requestTimeoutMs) throw new UsageError(`--headers-timeout-ms (${headersTimeoutMs}) must not exceed --request-timeout-ms (${requestTimeoutMs})`)
  const [idempotencySource, idempotencyValue] = pick('idempotency-ttl', 'STREAMGATE_IDEMPOTENCY_TTL')
  const idempotencyTtlSeconds = integer(idempotencySource, idempotencyValue, MAX_TIMER_SECONDS * 1000) ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS
  if (idempotencyTtlSeconds === 0) throw new UsageError(`${idempotencySource} must be at least 1`)
  const lifetime = integer(...pick('sse-max-lifetime', 'STREAMGATE_SSE_MAX_LIFETIME'), MAX_TIMER_SECONDS)
  const [, cert] = pick('tls-cert', 'STREAMGATE_TLS_CERT')
  const [, key] = pick('tls-key', 'STREAMGATE_TLS_KEY')
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--tls-cert and --tls-key go together')
  const [, redisUrl] = pick('redis', 'STREAMGATE_REDIS_URL')
  const [, redisPrefix] = pick('redis-prefix', 'STREAMGATE_REDIS_PREFIX')
  if (redisPrefix !== undefined && !redisUrl) throw new UsageError('--redis-prefix needs --redis')
  const dataDir = pick('data-dir', 'STREAMGATE_DATA_DIR')[1] || undefined
  const memory = Boolean(values.memory) || env.STREAMGATE_MEMORY === '1'
  const fsync = Boolean(values.fsync) || env.STREAMGATE_FSYNC === '1'
  if ([memory, redisUrl, dataDir].filter(Boolean).length > 1) throw new UsageError('--memory, --redis and --data-dir each choose the store: give one')
  if (fsync && (memory || redisUrl)) throw new UsageError('--fsync is for the durable store: it goes with --data-dir, not --memory or --redis')
  return {
    tls: cert && key ? { cert, key } : undefined,
    redis: redisUrl ? { url: redisUrl, prefix: redisPrefix } : undefined,
    durable: memory || redisUrl ? undefined : { dataDir: dataDir ?? '.streamgate', fsync },
    corsOrigins: (values['cors-origin'] as string[] | undefined) ?? env.STREAMGATE_CORS_ORIGINS?.split(',').filter(Boolean) ?? [],
    sseMaxLifetimeMs: lifetime === undefined ? undefined : lifetime * 1000,
    port: integer(...pick('port', 'STREAMGATE_PORT', 'PORT'), 65_535) ?? 3000,
    host: pick('host', 'STREAMGATE_HOST')[1] ?? '127.0.0.1',
    streams: (values.streams as string[] | undefined) ?? env.STREAMGATE_STREAMS?.split(',').filter(Boolean) ?? [],
    config: pick('config', 'STREAMGATE_CONFIG')[1],
    logLevel: logLevel(...pick('log-level', 'STREAMGATE_LOG_LEVEL')) ?? 'info',
    limits,
    inspector: !(values['no-inspector'] || env.STREAMGATE_NO_INSPECTOR === '1'),
    drainDelayMs: seconds(...pick('drain-delay', 'STREAMGATE_DRAIN_DELAY')) ?? 0,
    http,
    idempotencyTtlSeconds,
  }
}
