import { randomBytes } from 'node:crypto'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { pino, type Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import { groupKey } from '../model/group-key.ts'
import type { CustomEvent, GroupInfo, Item, LogRecord, Snapshot } from '../model/records.ts'
import { clusterLayout, DEFAULT_REDIS_PREFIX, expiringKey, type GroupKeys, groupIndexKey, type KeyLayout, standaloneLayout } from './redis-keys.ts'
import { clusterScripts, expiringUpdate, type LuaScript, type Scripts, standaloneScripts } from './redis-scripts.ts'
import { ShardedSubscriber } from './redis-shard-subscriber.ts'
import { type ChannelSubscriber, PlainSubscriber } from './redis-subscriber.ts'
import { type HistoryLimit, type Idempotency, keyReused, preconditionFailed, type SetOptions, type Store, type StoreListener, type WriteOptions, type WriteResult } from './store.ts'

export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string
  /** Put before every key and channel, so deployments can share one Redis (default `streamgate:`). */
  prefix?: string
}

export interface RedisStoreOptions extends RedisConfig {
  /** How much of each group's log a stream keeps for resume. */
  historyLimit: (streamName: string) => HistoryLimit
  logger?: Logger
  /** A command Redis does not answer within this time fails with UNAVAILABLE (default 2000 ms). */
  commandTimeoutMs?: number
  /** Connecting gives up after this long (default 5000 ms). */
  connectTimeoutMs?: number
  /** How often the connection and the epoch are checked (default 1000 ms). */
  heartbeatMs?: number
}

/** A group that local subscribers follow: its records are delivered in log order, gaps repaired. */
interface Watched {
  streamName: string
  groupId: string
  keys: GroupKeys
  /** The subscriber connection listens on the group's channel. */
  subscribed: boolean
  /** The seq of the last record delivered (or known to be covered); null until the position is read. */
  lastSeq: number | null
  /** Listeners must be told `lost` once the position is known again. */
  lost: boolean
  /** Compare with the history before delivering more: after a reconnect ('verify') or a gap ('gap'). */
  check: 'verify' | 'gap' | false
  /** The seq of the record that revealed a gap: the history must reach it. */
  gapAt: number
  /** Records from the channel, not yet delivered. */
  queue: LogRecord[]
  busy: boolean
  gone: boolean
  /** Bumped whenever the position is invalidated, so a repair that was in flight knows it is stale. */
  generation: number
  /** The newest stamp delivered for this group (the clock floor after an empty restart). */
  maxTs: number
  /** Reads waiting for the position to be known. */
  waiters: Set<{ resolve(): void; reject(error: GatewayError): void }>
  retry?: NodeJS.Timeout
}

/** More undelivered records than this for one group (a repair stuck behind a slow Redis): start over. */
const MAX_QUEUED = 10_000

const newEpochId = () => randomBytes(9).toString('base64url')

const parseInfo = (text: string) => {
  const info: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':')
    if (at > 0 && !line.startsWith('#')) info[line.slice(0, at)] = line.slice(at + 1)
  }
  return info
}

/** The url as it may be logged: without its password. */
export function redactRedisUrl(url: string) {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable url)'
  }
}

/**
 * What keeps a Redis Cluster from serving every group: slots no master serves (every group's slot must have
 * an owner, or its writes fail at random); undefined when all 16384 are served. `slots` is CLUSTER SLOTS.
 */
export function clusterCoverageProblem(slots: Array<[number, number, ...unknown[]]>, state: string | undefined): string | undefined {
  const served = new Array<boolean>(16384).fill(false)
  for (const [from, to] of slots) served.fill(true, from, to + 1)
  const missing: string[] = []
  for (let slot = 0; slot < served.length; slot++) {
    if (served[slot]) continue
    let last = slot
    while (last + 1 < served.length && !served[last + 1]) last += 1
    missing.push(last === slot ? String(slot) : `${slot}-${last}`)
    slot = last
  }
  if (missing.length > 0) {
    const shown = missing.length > 5 ? `${missing.slice(0, 5).join(', ')} and ${missing.length - 5} more ranges` : missing.join(', ')
    return `hash slots ${shown} have no master (cluster_state:${state ?? 'unknown'}): assign them (redis-cli --cluster fix) before starting`
  }
  if (state !== 'ok') return `cluster_state is ${state ?? 'unknown'}, not ok`
  return undefined
}

/**
 * What keeps a Redis unusable as the store; undefined when it is fine. An `allkeys-*` eviction policy would
 * silently delete items, clocks and histories under memory pressure. `volatile-*` policies only evict keys with
 * a TTL, and the store sets one only on idempotency keys, so they never touch stream state (at maxmemory writes
 * then fail, like `noeviction`, with UNAVAILABLE); an evicted idempotency key lets a retry write again.
 */
export function redisServerProblem(info: Record<string, string>): string | undefined {
  const major = Number(info.redis_version?.split('.')[0])
  if (Number.isFinite(major) && major < 5) return `Redis ${info.redis_version} is too old: streamgate needs Redis 5 or newer`
  if (info.cluster_enabled === '1' && Number.isFinite(major) && major < 7) {
    return `Redis Cluster ${info.redis_version} has no sharded Pub/Sub (SSUBSCRIBE): streamgate needs Redis 7.0 or newer on a cluster`
  }
  // A cluster is found from any of its nodes; the store checks its masters.
  if (info.cluster_enabled !== '1' && info.role && info.role !== 'master') return `Redis is a read-only ${info.role === 'slave' ? 'replica' : info.role}: point --redis at the primary`
  const policy = info.maxmemory_policy
  if (policy?.startsWith('allkeys-')) {
    return (
      `Redis maxmemory-policy is ${policy}: under memory pressure it would silently evict stream state (items, clocks, histories). ` +
      `Set it to noeviction (writes then fail with 503 at maxmemory) or a volatile-* policy (streamgate sets TTLs only on idempotency keys, so those evict nothing else): ` +
      `CONFIG SET maxmemory-policy noeviction`
    )
  }
  return undefined
}

/**
 * Asks the `--redis` node whether it belongs to a Redis Cluster and, if so, whether the cluster can serve every
 * group (Redis 7+, every slot served): ioredis' Cluster would otherwise retry a broken cluster forever.
 */
async function clusterMode(options: RedisStoreOptions): Promise<boolean> {
  const location = redactRedisUrl(options.url)
  const probe = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
  })
  let lastError: Error | undefined
  probe.on('error', (error: Error) => (lastError = error))
  try {
    try {
      await probe.connect()
    } catch (error) {
      throw new Error(`cannot connect to Redis at ${location}: ${(lastError ?? (error as Error)).message}`)
    }
    const info = parseInfo(await probe.info())
    if (info.cluster_enabled !== '1') return false
    const problem = redisServerProblem(info)
    if (problem) throw new Error(`Redis at ${location} cannot hold stream state: ${problem}`)
    const state = parseInfo(String(await probe.call('CLUSTER', 'INFO'))).cluster_state
    const coverage = clusterCoverageProblem((await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number]>, state)
    if (coverage) throw new Error(`Redis Cluster at ${location} cannot hold stream state: ${coverage}`)
    return true
  } finally {
    probe.disconnect()
  }
}

function storeError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (message.startsWith('OOM')) return new GatewayError('UNAVAILABLE', 'the store is full: Redis reached maxmemory')
  if (error instanceof Error && error.name === 'ReplyError' && !/^(LOADING|BUSY|READONLY|MASTERDOWN|NOREPLICAS|TRYAGAIN|CLUSTERDOWN)/.test(message)) {
    return new GatewayError('INTERNAL', `Redis refused a command: ${message}`)
  }
  return new GatewayError('UNAVAILABLE', `the store is unavailable: ${message}`)
}

const unavailable = (why = 'Redis is not reachable') => new GatewayError('UNAVAILABLE', `the store is unavailable: ${why}`)

/**
 * Stored items are `<creation seq>:<version>:<json>` (`<creation seq>:<json>` when written before versions
 * existed: version 0): a group lists in creation order, like the memory store.
 */
function parseStored(stored: string) {
  const at = stored.indexOf(':')
  const created = Number(stored.slice(0, at))
  if (stored[at + 1] === '{') return { created, version: 0, json: stored.slice(at + 1) }
  const second = stored.indexOf(':', at + 1)
  return { created, version: Number(stored.slice(at + 1, second)), json: stored.slice(second + 1) }
}
const inCreationOrder = (stored: string[]) => stored.map(parseStored).sort((a, b) => a.created - b.created)
const itemOf = (entry: { json: string }) => JSON.parse(entry.json) as Item

/** What a write script answered (redis-scripts.ts): the written result, or a replay, or a refusal thrown. */
type WriteReply = ['ok', string, string | null] | ['replay', string] | ['reused'] | ['failed', string]

function written(reply: WriteReply): ['ok', string, string | null] | { replayed: string } {
  switch (reply[0]) {
    case 'ok':
      return reply
    case 'replay':
      return { replayed: reply[1] }
    case 'reused':
      throw keyReused()
    case 'failed':
      throw preconditionFailed(reply[1] === '' ? null : Number(reply[1]))
  }
}

const epochOfWrite = (reply: WriteReply | null) => (reply?.[0] === 'ok' ? (JSON.parse(reply[1]) as LogRecord).epoch : undefined)

/** The script arguments of an idempotency key: its fingerprint ('' without one) and ttl. */
const idempotencyArgs = (idempotency: Idempotency | undefined) => (idempotency ? [idempotency.fingerprint, idempotency.ttlMs] : ['', 0])

/**
 * The scale-out store: item state, each group's log position and clock, a capped history per group and the
 * epoch live in Redis (layout: redis-keys.ts), written by one Lua script per change (redis-scripts.ts), so any
 * number of gateway instances share one order, one clock and one create/update decision per group.
 *
 * Delivery: each instance subscribes (on a second connection) to the channels of the groups its own clients
 * follow, and hands their records to the hub in seq order. A gap in a group's sequence, or a reconnect of the
 * subscriber connection, is repaired from the history; when the history cannot fill it, or a new epoch started,
 * the group is reported `lost` and its subscribers re-sync.
 *
 * Failure: no offline queue and no retried commands. While Redis is unreachable every read and write fails at
 * once with UNAVAILABLE (503); a command without an answer fails after `commandTimeoutMs` (the write may still
 * run later, exactly once: it is never resent); `ready()` is false while either connection is down or Redis
 * misses a heartbeat. A script either ran completely or not at all, so nothing is half-written, and a write is
 * acknowledged only after Redis ran it (with `appendfsync always` it then survives a Redis crash). Local
 * subscribers stay connected; when Redis is back every followed group is checked against its history and, if
 * records were missed beyond it or Redis came back under a new epoch, re-synced (`lost`).
 *
 * Redis Cluster (detected at startup from the `--redis` node's INFO): commands go through ioredis' Cluster, which
 * follows the slot map and its redirections; each group's keys share a hash slot and each slot has its own epoch
 * (redis-keys.ts); records travel on sharded Pub/Sub, one subscriber connection per master
 * (redis-shard-subscriber.ts). A channel whose slot moved or whose master failed over listens again on the new
 * owner and its group is checked against the history, exactly as after a reconnect.
 *
 * Requirements (checked at startup, which fails with a clear message otherwise): Redis 5+ (7+ on a cluster),
 * reachable, a primary (not a read-only replica), a maxmemory-policy that cannot evict the store's keys, and on
 * a cluster every hash slot served.
 */
export class RedisStore implements Store {
  /** Connects, checks the server (reachable, not evicting, not a replica) and the epoch; throws with a clear message. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options, await clusterMode(options))
    await store.start()
    return store
  }

  readonly prefix: string
  private readonly cmd: Redis | Cluster
  private readonly subscriber: ChannelSubscriber
  private readonly layout: KeyLayout
  private readonly scripts: Scripts
  private readonly logger: Logger
  private readonly historyLimit: (streamName: string) => HistoryLimit
  private readonly commandTimeoutMs: number
  private readonly heartbeatMs: number
  private readonly location: string
  private readonly listeners: StoreListener[] = []
  private readonly watched = new Map<string, Watched>()
  private readonly byChannel = new Map<string, Watched>()
  /** The epoch of each epoch key seen (one key on a single Redis, one per slot on a cluster). */
  private readonly epochs = new Map<string, string>()
  /** The Redis process the standalone scripts check against (a cluster's scripts ask the node they run on). */
  private runId = ''
  private candidate = newEpochId()
  /** The command connection is up and was checked (run id, eviction policy, epoch). */
  private usable = false
  private started = false
  private closed = false
  private checking: Promise<void> | undefined
  private beating = false
  /** The last heartbeat got no answer in time. */
  private unresponsive = false
  private heartbeat: NodeJS.Timeout | undefined
  private lastError: Error | undefined
  private lastProblem: string | undefined
  private outage = false

  private constructor(
    options: RedisStoreOptions,
    private readonly cluster: boolean,
  ) {
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.layout = cluster ? clusterLayout(this.prefix) : standaloneLayout(this.prefix)
    this.scripts = cluster ? clusterScripts : standaloneScripts
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ store: 'redis' })
    this.historyLimit = options.historyLimit
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000
    this.heartbeatMs = options.heartbeatMs ?? 1000
    this.location = redactRedisUrl(options.url)
    const connection: RedisOptions = {
      lazyConnect: true,
      // Fail fast instead of queueing: a write either reaches Redis now or is refused with UNAVAILABLE.
      enableOfflineQueue: false,
      // A command in flight when the connection drops is failed, never sent again (it may have run).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 5000,
    }
    // Startup fails on the first refusal; once running, reconnect forever, at most a second apart.
    const retry = (attempt: number) => (this.started && !this.closed ? Math.min(50 * 2 ** (attempt - 1), 1000) : null)
    const events = {
      message: (channel: string, message: string) => this.received(channel, message),
      listening: (channels: string[]) => this.listening(channels),
      interrupted: (channels: string[]) => this.interrupted(channels),
    }
    if (cluster) {
      const seed = new URL(options.url)
      const login = {
        username: seed.username ? decodeURIComponent(seed.username) : undefined,
        password: seed.password ? decodeURIComponent(seed.password) : undefined,
      }
      const tls = seed.protocol === 'rediss:'
      this.cmd = new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
        lazyConnect: true,
        enableOfflineQueue: false,
        // Redirections and TRYAGAIN (a slot half-way through a migration) mean the command did not run: follow
        // them. A lost connection may have run it: fail, never resend. CLUSTERDOWN fails at once, like an outage.
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        retryDelayOnTryAgain: 20,
        maxRedirections: 32,
        slotsRefreshTimeout: this.commandTimeoutMs,
        clusterRetryStrategy: retry,
        redisOptions: { ...connection, ...login, tls: tls ? {} : undefined, connectionName: 'streamgate' },
      })
      this.subscriber = new ShardedSubscriber(
        this.cmd,
        { ...login, tls, connectTimeoutMs: connection.connectTimeout!, commandTimeoutMs: this.commandTimeoutMs },
        events,
        this.logger,
      )
    } else {
      this.cmd = new Redis(options.url, { ...connection, retryStrategy: retry, connectionName: 'streamgate' })
      this.subscriber = new PlainSubscriber(options.url, { ...connection, retryStrategy: retry }, events, this.logger)
    }
    this.cmd.on('error', (error: Error) => {
      this.lastError = error
      this.logger.debug({ err: error }, 'redis connection error')
    })
    this.cmd.on('close', () => this.commandConnectionLost())
    this.cmd.on('ready', () => void this.commandConnectionReady())
  }

  private async start() {
    try {
      try {
        await this.cmd.connect()
      } catch (error) {
        throw new Error(`cannot connect to Redis at ${this.location}: ${(this.lastError ?? (error as Error)).message}`)
      }
      await this.checkServer()
      this.started = true
      try {
        await this.subscriber.start()
      } catch (error) {
        throw new Error(`cannot connect to Redis at ${this.location}: ${(this.lastError ?? (error as Error)).message}`)
      }
      if (!this.usable) throw new Error(`lost the connection to Redis at ${this.location} while starting`)
      this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs)
      this.heartbeat.unref()
      const mode = this.cluster ? { cluster: { masters: this.masters().length } } : { epoch: this.epochs.get(this.layout('', '').epoch) }
      this.logger.info({ redis: this.location, prefix: this.prefix, ...mode }, 'redis store connected')
    } catch (error) {
      this.closed = true
      this.cmd.disconnect()
      await this.subscriber.close()
      throw error
    }
  }

  private masters(): Redis[] {
    return this.cmd instanceof Cluster ? this.cmd.nodes('master') : [this.cmd]
  }

  /**
   * Reads the server's run id and policy, then the epoch: the command connection is usable after this. On a
   * cluster every master is checked; the slots' epochs are read as their groups are used.
   */
  private checkServer(): Promise<void> {
    this.checking ??= (async () => {
      try {
        for (const master of this.masters()) {
          const info = parseInfo(await master.info())
          const problem = redisServerProblem(info)
          const where = this.cluster ? `the Redis Cluster master ${master.options.host}:${master.options.port}` : `Redis at ${this.location}`
          if (problem) throw new Error(`${where} cannot hold stream state: ${problem}`)
          if (!info.run_id) throw new Error(`${where} did not report its run_id`)
          this.runId = this.cluster ? '' : info.run_id
        }
        if (!this.cluster) {
          const key = this.layout('', '').epoch
          const candidate = this.candidate
          const epoch = String(await this.run(this.scripts.epoch, [key], [this.runId, candidate]))
          if (epoch === candidate) this.candidate = newEpochId()
          this.observeEpoch(key, epoch)
        }
        this.usable = true
      } finally {
        this.checking = undefined
      }
    })()
    return this.checking
  }

  private commandConnectionLost() {
    if (!this.usable) return
    this.usable = false
    this.reportOutage()
    for (const w of this.watched.values()) this.reject(w, unavailable())
  }

  private async commandConnectionReady() {
    if (!this.started || this.closed) return
    try {
      await this.checkServer()
    } catch (error) {
      // Logged once per distinct problem; the heartbeat retries every heartbeatMs.
      const message = (error as Error).message
      if (message !== this.lastProblem) this.logger.error({ err: error }, 'redis store: the server is not usable; retrying')
      this.lastProblem = message
      return
    }
    this.lastProblem = undefined
    this.unresponsive = false
    this.reportRecovery()
    for (const w of this.watched.values()) void this.drain(w)
  }

  private interrupted(channels: string[]) {
    this.reportOutage()
    for (const channel of channels) {
      const w = this.byChannel.get(channel)
      if (!w) continue
      w.subscribed = false
      this.reject(w, unavailable())
    }
  }

  /** The group is located only once its channel listens: every record after that position then arrives here. */
  private listening(channels: string[]) {
    this.reportRecovery()
    for (const channel of channels) {
      const w = this.byChannel.get(channel)
      if (!w) continue
      w.subscribed = true
      // Records published while the channel did not listen were missed: the history has them.
      if (w.lastSeq !== null) w.check = 'verify'
      void this.drain(w)
    }
  }

  private reportOutage() {
    if (this.outage || this.closed) return
    this.outage = true
    this.logger.warn({ redis: this.location }, 'redis store: connection lost; reads and writes fail with UNAVAILABLE until it is back')
  }

  private reportRecovery() {
    if (!this.outage || !this.ready()) return
    this.outage = false
    this.logger.info({ redis: this.location }, 'redis store: connection restored')
  }

  /**
   * Retries a check or resubscription that failed, notices a new epoch even when nothing is written
   * (FLUSHALL), and probes both connections: while Redis does not answer them (a hung server, a partition
   * that drops packets), the store reports not ready.
   */
  private async beat() {
    if (this.closed || this.beating) return
    if (this.cmd.status !== 'ready') return void this.subscriber.beat().catch(() => {})
    if (!this.usable) return void this.commandConnectionReady()
    this.beating = true
    try {
      // A cluster's epochs are per slot: they are checked by every command on the slot, and whenever a
      // channel listens again (a failover, a restart), not all 16384 every beat.
      const command = this.cluster
        ? Promise.all(this.masters().map((master) => master.ping()))
        : this.call(this.scripts.epoch, [this.layout('', '').epoch], [], (result) => String(result))
      const probes: Array<Promise<unknown>> = [command, this.subscriber.beat()]
      const failed = (await Promise.allSettled(probes)).find((result) => result.status === 'rejected')
      if (failed && !this.unresponsive) {
        this.logger.warn({ err: failed.reason }, 'redis store: Redis does not answer; not ready until it does')
      }
      const recovered = !failed && this.unresponsive
      this.unresponsive = failed !== undefined
      if (recovered) {
        this.logger.info('redis store: Redis answers again')
        for (const w of this.watched.values()) void this.drain(w)
      }
    } finally {
      this.beating = false
    }
  }

  private async run(script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await this.cmd.evalsha(script.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return await this.cmd.eval(script.lua, keys.length, ...keys, ...args)
    }
  }

  /**
   * Runs a script with the run id and a fresh candidate epoch; `keys` starts with the epoch key, and `epochOf`
   * reads the epoch the script saw from its result.
   */
  private async call<T>(script: LuaScript, keys: string[], args: Array<string | number>, epochOf: (result: T) => string | undefined): Promise<T> {
    if (this.closed || !this.usable) throw unavailable()
    const candidate = this.candidate
    let result: T
    try {
      result = (await this.run(script, keys, [this.runId, candidate, ...args])) as T
    } catch (error) {
      // It may have run and used the candidate: never offer it again.
      this.candidate = newEpochId()
      throw storeError(error)
    }
    const epoch = epochOf(result)
    if (epoch !== undefined) {
      if (epoch === candidate) this.candidate = newEpochId()
      this.observeEpoch(keys[0]!, epoch)
    }
    return result
  }

  /** A new epoch: the logs of every followed group under that key restarted, so each is located again and reported lost. */
  private observeEpoch(key: string, epoch: string) {
    const previous = this.epochs.get(key)
    if (epoch === previous) return
    this.epochs.set(key, epoch)
    if (previous === undefined) return
    const why = this.cluster ? 'its master failed over, restarted or was flushed' : 'Redis restarted or was flushed'
    this.logger.warn({ key, previous, epoch }, `redis store: new epoch (${why}); its followed groups re-sync`)
    for (const w of this.watched.values()) if (w.keys.epoch === key) this.relocate(w)
  }

  private relocate(w: Watched) {
    // A group not located yet has had no reader (reads wait for the position): nothing to re-sync.
    if (w.lastSeq !== null) w.lost = true
    w.lastSeq = null
    w.check = false
    w.generation += 1
    void this.drain(w)
  }

  // --- delivery -------------------------------------------------------------------------------------------

  private received(channel: string, message: string) {
    const w = this.byChannel.get(channel)
    if (!w) return
    let record: LogRecord
    try {
      record = JSON.parse(message) as LogRecord
    } catch (error) {
      this.logger.error({ err: error, channel }, 'redis store: unreadable record on a group channel')
      return
    }
    w.queue.push(record)
    if (w.queue.length > MAX_QUEUED) {
      w.queue = []
      this.relocate(w)
    }
    void this.drain(w)
  }

  /**
   * Delivers a group's queued records in seq order, one drain at a time. In the steady state this runs
   * synchronously from the channel message; it only waits on Redis to locate the group, to fill a gap from
   * the history, or to check a record of an unexpected epoch.
   */
  private async drain(w: Watched): Promise<void> {
    if (w.busy) return
    w.busy = true
    try {
      while (!w.gone && w.subscribed) {
        if (w.lastSeq === null) {
          await this.locate(w)
          continue
        }
        if (w.check) {
          await this.fill(w)
          continue
        }
        const record = w.queue[0]
        if (!record) break
        if (record.epoch !== this.epochs.get(w.keys.epoch)) {
          // Either a newer epoch this instance has not seen yet (adopting it relocates the groups under its
          // key), or a leftover of the previous one.
          await this.call(this.scripts.epoch, [w.keys.epoch], [], (result) => String(result))
          if (w.queue[0] === record && record.epoch !== this.epochs.get(w.keys.epoch)) w.queue.shift()
          continue
        }
        if (record.seq <= w.lastSeq) {
          w.queue.shift()
          continue
        }
        if (record.seq > w.lastSeq + 1) {
          w.check = 'gap'
          w.gapAt = record.seq
          continue
        }
        w.queue.shift()
        this.deliver(w, record)
      }
    } catch (error) {
      // Redis went away mid-repair: the connection's return drains every group again. A failure on a live
      // connection (a timeout) is retried shortly.
      this.logger.debug({ err: error, streamName: w.streamName, groupId: w.groupId }, 'redis store: delivery repair failed')
      if (!w.gone && this.usable && w.subscribed) {
        clearTimeout(w.retry)
        w.retry = setTimeout(() => void this.drain(w), 250)
        w.retry.unref()
      }
    } finally {
      w.busy = false
    }
  }

  /** Reads where the group's log stands; records up to there are covered by any later snapshot. */
  private async locate(w: Watched) {
    const generation = w.generation
    const [, seq] = await this.call<[string, string]>(this.scripts.position, [w.keys.epoch, w.keys.meta], [], (r) => r[0])
    if (w.gone || w.generation !== generation) return
    w.lastSeq = Number(seq)
    w.check = false
    for (const waiter of w.waiters) waiter.resolve()
    w.waiters.clear()
    if (w.lost) {
      w.lost = false
      for (const listener of this.listeners) listener.lost(w.streamName, w.groupId)
    }
  }

  /** Delivers what the history holds after the last delivered record; relocates (lost) when it cannot. */
  private async fill(w: Watched) {
    const generation = w.generation
    const result = await this.call<string[]>(this.scripts.history, [w.keys.epoch, w.keys.meta, w.keys.log], [this.epochs.get(w.keys.epoch)!, w.lastSeq!], (r) => r[0])
    if (w.gone || w.generation !== generation) return
    const [, , status, ...records] = result
    const gap = w.check === 'gap'
    w.check = false
    if (status !== 'ok') return this.relocate(w)
    for (const json of records) {
      const record = JSON.parse(json) as LogRecord
      if (record.seq > w.lastSeq!) this.deliver(w, record)
    }
    // The record that revealed the gap was written before this read: the history must have reached it.
    if (gap && w.lastSeq! < w.gapAt) this.relocate(w)
  }

  private deliver(w: Watched, record: LogRecord) {
    w.lastSeq = record.seq
    if (record.timestamp > w.maxTs) w.maxTs = record.timestamp
    for (const listener of this.listeners) listener.record(record)
  }

  private reject(w: Watched, error: GatewayError) {
    for (const waiter of w.waiters) waiter.reject(error)
    w.waiters.clear()
  }

  /** Reads of a followed group wait until its position is known, so no record falls between read and delivery. */
  private async readable(streamName: string, groupId: string): Promise<Watched | undefined> {
    if (!this.ready()) throw unavailable()
    const w = this.watched.get(groupKey(streamName, groupId))
    if (!w || w.lastSeq !== null) return w
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        w.waiters.delete(waiter)
        reject(unavailable('Redis did not answer in time'))
      }, this.commandTimeoutMs * 2)
      const waiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (error: GatewayError) => (clearTimeout(timer), reject(error)),
      }
      w.waiters.add(waiter)
    })
    return w
  }

  // --- Store ----------------------------------------------------------------------------------------------

  private keys(streamName: string, groupId: string) {
    return this.layout(streamName, groupId)
  }

  private head(streamName: string, groupId: string, id: string | undefined) {
    const head = `"streamName":${JSON.stringify(streamName)},"groupId":${JSON.stringify(groupId)}`
    return id === undefined ? head : `${head},"id":${JSON.stringify(id)}`
  }

  private historyArgs(streamName: string) {
    const { records, bytes } = this.historyLimit(streamName)
    return [records, bytes]
  }

  private floor(streamName: string, groupId: string) {
    return this.watched.get(groupKey(streamName, groupId))?.maxTs ?? 0
  }

  async get(streamName: string, groupId: string, id: string) {
    if (!this.usable) throw unavailable()
    try {
      const stored = await this.cmd.hget(this.keys(streamName, groupId).items, id)
      if (stored === null) return null
      const { version, json } = parseStored(stored)
      return { item: JSON.parse(json) as Item, version }
    } catch (error) {
      throw storeError(error)
    }
  }

  async list(streamName: string, groupId: string): Promise<Item[]> {
    if (!this.usable) throw unavailable()
    try {
      return inCreationOrder(await this.cmd.hvals(this.keys(streamName, groupId).items)).map(itemOf)
    } catch (error) {
      throw storeError(error)
    }
  }

  async groups(streamName: string, after: string | undefined, limit: number): Promise<GroupInfo[]> {
    if (!this.usable) throw unavailable()
    try {
      const groups: GroupInfo[] = []
      // On a cluster the index may name groups that hold no items any more: they are skipped.
      for (let from = after; groups.length < limit; ) {
        const ids = await this.cmd.zrangebylex(groupIndexKey(this.prefix, streamName, this.cluster), from === undefined ? '-' : `(${from}`, '+', 'LIMIT', 0, limit)
        if (ids.length === 0) break
        const counts = await Promise.all(ids.map((groupId) => this.cmd.hlen(this.keys(streamName, groupId).items)))
        ids.forEach((groupId, i) => counts[i]! > 0 && groups.length < limit && groups.push({ groupId, items: counts[i]! }))
        from = ids.at(-1)
      }
      return groups
    } catch (error) {
      throw storeError(error)
    }
  }

  /**
   * A single Redis keeps the index of groups and the index of expiring items in the write scripts (their last
   * two keys); a cluster cannot.
   */
  private indexKeys(streamName: string) {
    return this.cluster ? [] : [groupIndexKey(this.prefix, streamName, false), expiringKey(this.prefix)]
  }

  private async indexGroup(streamName: string, groupId: string) {
    try {
      await this.cmd.zadd(groupIndexKey(this.prefix, streamName, true), 'NX', 0, groupId)
    } catch (error) {
      // The write happened: it is acknowledged; the group is listed again with its next new item.
      this.logger.warn({ err: error, streamName, groupId }, 'redis store: could not list a new group in its stream index')
    }
  }

  private static expiringMember = (streamName: string, groupId: string, id: string) => JSON.stringify([streamName, groupId, id])

  async set(streamName: string, groupId: string, item: Item, options: SetOptions = {}): Promise<WriteResult> {
    const keys = this.keys(streamName, groupId)
    const member = RedisStore.expiringMember(streamName, groupId, item.id)
    const reply = written(
      await this.call<WriteReply>(
        this.scripts.set,
        [keys.epoch, keys.meta, keys.items, keys.log, keys.exp, keys.idem(options.idempotency?.key ?? ''), ...this.indexKeys(streamName)],
        [
          this.floor(streamName, groupId),
          ...this.historyArgs(streamName),
          keys.channel,
          item.id,
          JSON.stringify(item),
          this.head(streamName, groupId, item.id),
          groupId,
          options.ifVersion ?? '',
          options.ifAbsent ? '1' : '',
          ...idempotencyArgs(options.idempotency),
          options.expiresAt ?? '',
          member,
        ],
        epochOfWrite,
      ),
    )
    if ('replayed' in reply) return { ...(JSON.parse(reply.replayed) as WriteResult), replayed: true }
    const [, json, previous] = reply
    if (this.cluster && previous === null) await this.indexGroup(streamName, groupId)
    if (this.cluster && options.expiresAt !== undefined) await this.indexExpiry(member, options.expiresAt)
    return { previous: previous === null ? null : (JSON.parse(previous) as Item), record: JSON.parse(json) as LogRecord }
  }

  /**
   * On a cluster, after the script: the sweep finds the item from here. A stale entry (the item was set again
   * without a time, or deleted) is dropped by the sweep; one lost with a crash right after the script leaves the
   * item without expiry until it is set again.
   */
  private async indexExpiry(member: string, expiresAt: number) {
    try {
      await this.cmd.zadd(expiringKey(this.prefix), expiresAt, member)
    } catch (error) {
      this.logger.warn({ err: error, member }, 'redis store: could not index an expiring item; it expires once set again')
    }
  }

  async delete(streamName: string, groupId: string, id: string, options: WriteOptions = {}): Promise<WriteResult | null> {
    const keys = this.keys(streamName, groupId)
    const reply = await this.call<WriteReply | null>(
      this.scripts.delete,
      [keys.epoch, keys.meta, keys.items, keys.log, keys.exp, keys.idem(options.idempotency?.key ?? ''), ...this.indexKeys(streamName)],
      [
        this.floor(streamName, groupId),
        ...this.historyArgs(streamName),
        keys.channel,
        id,
        this.head(streamName, groupId, id),
        groupId,
        options.ifVersion ?? '',
        ...idempotencyArgs(options.idempotency),
        RedisStore.expiringMember(streamName, groupId, id),
      ],
      epochOfWrite,
    )
    if (reply === null) return null
    const result = written(reply)
    if ('replayed' in result) return { ...(JSON.parse(result.replayed) as WriteResult), replayed: true }
    const record = JSON.parse(result[1]) as LogRecord & { item: Item }
    return { previous: record.item, record }
  }

  async send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent, options: Pick<WriteOptions, 'idempotency'> = {}): Promise<LogRecord> {
    const keys = this.keys(streamName, groupId)
    const reply = written(
      await this.call<WriteReply>(
        this.scripts.send,
        [keys.epoch, keys.meta, keys.log, keys.idem(options.idempotency?.key ?? '')],
        [this.floor(streamName, groupId), ...this.historyArgs(streamName), keys.channel, JSON.stringify(event), this.head(streamName, groupId, id), ...idempotencyArgs(options.idempotency)],
        epochOfWrite,
      ),
    )
    return JSON.parse('replayed' in reply ? reply.replayed : reply[1]) as LogRecord
  }

  /**
   * Reads the due entries of the index of expiring items and runs the expire script for each: it deletes the
   * item only while it is still due, so instances sweeping at once delete it once. On a cluster the index is
   * then brought up to date here (expiringUpdate), unless a write changed the entry meanwhile.
   */
  async expire(now: number): Promise<number> {
    if (!this.usable) throw unavailable()
    const index = expiringKey(this.prefix)
    let due: string[]
    try {
      // A bounded batch, so one sweep never holds Redis long; more due items go with the next sweeps.
      due = await this.cmd.zrangebyscore(index, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 500)
    } catch (error) {
      throw storeError(error)
    }
    const entries = Array.from({ length: due.length / 2 }, (_, i) => ({ member: due[2 * i]!, score: due[2 * i + 1]! }))
    const outcomes = await Promise.all(
      entries.map(async ({ member, score }) => {
        const [streamName, groupId, id] = JSON.parse(member) as [string, string, string]
        const keys = this.keys(streamName, groupId)
        const [status, rest] = await this.call<[string, string]>(
          this.scripts.expire,
          [keys.epoch, keys.meta, keys.items, keys.log, keys.exp, ...this.indexKeys(streamName)],
          [this.floor(streamName, groupId), ...this.historyArgs(streamName), keys.channel, id, this.head(streamName, groupId, id), groupId, member],
          (r) => (r[0] === 'deleted' ? (JSON.parse(r[1]) as LogRecord).epoch : undefined),
        )
        if (this.cluster) await this.run(expiringUpdate, [index], [member, score, status === 'deleted' ? '' : rest])
        return status === 'deleted'
      }),
    )
    return outcomes.filter(Boolean).length
  }

  async snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot> {
    const w = await this.readable(streamName, groupId)
    const keys = this.keys(streamName, groupId)
    const [epoch, seq, ts, ...stored] = await this.call<string[]>(
      this.scripts.snapshot,
      [keys.epoch, keys.meta, keys.items],
      [w?.maxTs ?? 0, id ?? ''],
      (r) => r[0],
    )
    const timestamp = Number(ts)
    // The stamp of a group never written is a stand-in just below now, not the group's clock: were it the
    // floor, the next sync would store a clock (a key) for a group nobody wrote.
    if (w && Number(seq) > 0 && timestamp > w.maxTs) w.maxTs = timestamp
    const entries = inCreationOrder(stored)
    return { items: entries.map(itemOf), versions: entries.map((entry) => entry.version), seq: Number(seq), timestamp, epoch: epoch! }
  }

  async history(streamName: string, groupId: string, epoch: string, afterSeq: number): Promise<LogRecord[] | null> {
    await this.readable(streamName, groupId)
    const keys = this.keys(streamName, groupId)
    const [, , status, ...records] = await this.call<string[]>(
      this.scripts.history,
      [keys.epoch, keys.meta, keys.log],
      [epoch, afterSeq],
      (r) => r[0],
    )
    return status === 'ok' ? records.map((json) => JSON.parse(json) as LogRecord) : null
  }

  subscribe(listener: StoreListener) {
    this.listeners.push(listener)
  }

  watch(streamName: string, groupId: string) {
    const key = groupKey(streamName, groupId)
    if (this.watched.has(key) || this.closed) return
    const w: Watched = {
      streamName,
      groupId,
      keys: this.keys(streamName, groupId),
      subscribed: false,
      lastSeq: null,
      lost: false,
      check: false,
      gapAt: 0,
      queue: [],
      busy: false,
      gone: false,
      generation: 0,
      maxTs: 0,
      waiters: new Set(),
    }
    this.watched.set(key, w)
    this.byChannel.set(w.keys.channel, w)
    this.subscriber.add(w.keys.channel)
  }

  unwatch(streamName: string, groupId: string) {
    const key = groupKey(streamName, groupId)
    const w = this.watched.get(key)
    if (!w) return
    w.gone = true
    clearTimeout(w.retry)
    this.watched.delete(key)
    this.byChannel.delete(w.keys.channel)
    this.reject(w, unavailable('the group is no longer followed'))
    this.subscriber.remove(w.keys.channel)
  }

  ready() {
    return !this.closed && this.usable && this.subscriber.ready() && !this.unresponsive
  }

  async close() {
    if (this.closed) return
    this.closed = true
    this.usable = false
    clearInterval(this.heartbeat)
    for (const w of this.watched.values()) {
      w.gone = true
      clearTimeout(w.retry)
      this.reject(w, unavailable('the gateway is shutting down'))
    }
    await Promise.all([
      (async () => {
        try {
          if (this.cmd.status === 'ready') await this.cmd.quit()
        } catch {
          // already gone
        }
        this.cmd.disconnect()
      })(),
      this.subscriber.close(),
    ])
  }
}
