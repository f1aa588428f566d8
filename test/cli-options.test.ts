// The command line and the environment are input from outside: whatever they hold, parsing either yields
// usable options or refuses with a UsageError (one line, exit 2), never another exception.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseCliOptions } from '../gateway/config/cli-options.ts'
import { UsageError } from '../gateway/config/startup-errors.ts'

const FLAGS = ['--port', '--host', '--streams', '--config', '--tls-cert', '--tls-key', '--redis', '--redis-prefix', '--cors-origin',
  '--sse-max-lifetime', '--log-level', '--max-item-bytes', '--max-frame-bytes', '--max-subscriptions', '--max-queue-bytes', '--drain-delay', '--idempotency-ttl']
const VARIABLES = ['PORT', 'STREAMGATE_LOG_LEVEL', 'STREAMGATE_PORT', 'STREAMGATE_DRAIN_DELAY', 'STREAMGATE_MAX_ITEM_BYTES', 'STREAMGATE_SSE_MAX_LIFETIME', 'STREAMGATE_REDIS_PREFIX', 'STREAMGATE_IDEMPOTENCY_TTL']
const value = fc.oneof(
  fc.string(),
  fc.integer({ min: -100_000, max: 100_000 }).map(String),
  fc.double().map(String),
  fc.constantFrom('', ' ', '1e3', '0x10', 'NaN', '-0', '2147483', '2147484', '9007199254740993', 'debug', 'silent'),
)
const argument = fc.oneof(fc.constantFrom(...FLAGS), value, fc.tuple(fc.constantFrom(...FLAGS), value).map(([flag, v]) => `${flag}=${v}`))

describe('parseCliOptions', () => {
  it('yields options in range or a UsageError, whatever the arguments and variables', () => {
    fc.assert(
      fc.property(fc.array(argument, { maxLength: 8 }), fc.dictionary(fc.constantFrom(...VARIABLES), value), (argv, env) => {
        let options
        try {
          options = parseCliOptions(argv, env)
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError)
          expect((error as Error).message).not.toContain('\n')
          return
        }
        if (typeof options === 'string') return
        expect(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65_535).toBe(true)
        expect(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).toContain(options.logLevel)
        // Durations become Node timers, which fire at once past 2^31 - 1 ms.
        for (const ms of [options.drainDelayMs, options.sseMaxLifetimeMs ?? 0]) expect(Number.isInteger(ms) && ms >= 0 && ms <= 2 ** 31 - 1, `${ms} ms`).toBe(true)
        for (const limit of Object.values(options.limits)) expect(Number.isSafeInteger(limit) && limit >= 0).toBe(true)
        // Kept in milliseconds by the stores.
        expect(Number.isSafeInteger(options.idempotencyTtlSeconds * 1000) && options.idempotencyTtlSeconds >= 1).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('takes PORT only when STREAMGATE_PORT is not set, and the flag over both', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65_535 }), fc.integer({ min: 0, max: 65_535 }), fc.integer({ min: 0, max: 65_535 }), (flag, own, generic) => {
        expect(parseCliOptions([], { PORT: String(generic) })).toMatchObject({ port: generic })
        expect(parseCliOptions([], { PORT: String(generic), STREAMGATE_PORT: String(own) })).toMatchObject({ port: own })
        expect(parseCliOptions(['--port', String(flag)], { PORT: String(generic), STREAMGATE_PORT: String(own) })).toMatchObject({ port: flag })
      }),
    )
  })

  it('--idempotency-ttl over STREAMGATE_IDEMPOTENCY_TTL over 24 h; 0 is refused', () => {
    expect(parseCliOptions([], {})).toMatchObject({ idempotencyTtlSeconds: 86_400 })
    expect(parseCliOptions([], { STREAMGATE_IDEMPOTENCY_TTL: '60' })).toMatchObject({ idempotencyTtlSeconds: 60 })
    expect(parseCliOptions(['--idempotency-ttl', '5'], { STREAMGATE_IDEMPOTENCY_TTL: '60' })).toMatchObject({ idempotencyTtlSeconds: 5 })
    expect(() => parseCliOptions(['--idempotency-ttl', '0'], {})).toThrow(/--idempotency-ttl must be at least 1/)
    expect(() => parseCliOptions([], { STREAMGATE_IDEMPOTENCY_TTL: 'day' })).toThrow(/STREAMGATE_IDEMPOTENCY_TTL must be a whole number/)
  })
})
