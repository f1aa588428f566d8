import { randomBytes } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { pino, type Logger } from 'pino'
import { GatewayError } from '../model/errors.ts'
import { groupKey } from '../model/group-key.ts'
import type { CustomEvent, Item, LogRecord, Snapshot } from '../model/records.ts'
import { DEFAULT_REDIS_PREFIX, epochKey, type GroupKeys, groupKeys } from './redis-keys.ts'
import { type LuaScript, scripts } from './redis-scripts.ts'
import type { HistoryLimit, Store, StoreListener, WriteResult } from './store.ts'

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
 * What keeps a Redis unusable as the store; undefined when it is fine. An `allkeys-*` eviction policy would
 * silently delete items, clocks and histories under memory pressure. `volatile-*` policies only evict keys with
 * a TTL, and the store sets none, so they never touch its keys (at maxmemory writes then fail, like
 * `noeviction`, with UNAVAILABLE).
 */
export function redisServerProblem(info: Record<string, string>): string | undefined {
  const major = Number(info.redis_version?.split('.')[0])
  if (Number.isFinite(major) && major < 5) return `Redis ${info.redis_version} is too old: streamgate needs Redis 5 or newer`
  if (info.cluster_enabled === '1') return 'Redis Cluster is not supported: point --redis at a standalone Redis (or a Sentinel-managed primary)'
  if (info.role && info.role !== 'master') return `Redis is a read-only ${info.role === 'slave' ? 'replica' : info.role}: point --redis at the primary`
  const policy = info.maxmemory_policy
  if (policy?.startsWith('allkeys-')) {
    return (
      `Redis maxmemory-policy is ${policy}: under memory pressure it would silently evict stream state (items, clocks, histories). ` +
      `Set it to noeviction (writes then fail with 503 at maxmemory) or a volatile-* policy (streamgate sets no TTLs, so those never evict its keys): ` +
      `CONFIG SET maxmemory-policy noeviction`
    )
  }
  return undefined
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

/** Stored items are `<creation seq>:<json>`: a group lists in creation order, like the memory store. */
const itemJson = (stored: string) => stored.slice(stored.indexOf(':') + 1)
const inCreationOrder = (stored: string[]) =>
  stored
    .map((value) => ({ at: Number(value.slice(0, value.indexOf(':'))), json: itemJson(value) }))
    .sort((a, b) => a.at - b.at)
    .map((entry) => JSON.parse(entry.json) as Item)

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
 * Requirements (checked at startup, which fails with a clear message otherwise): Redis 5+, reachable, a primary
 * (not a read-only replica), not Redis Cluster, and a maxmemory-policy that cannot evict the store's keys.
 */
export class RedisStore implements Store {
  /** Connects, checks the server (reachable, not evicting, not a replica) and the epoch; throws with a clear message. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options)
    await store.start()
    return store
  }

  readonly prefix: string
  private readonly cmd: Redis
  private readonly sub: Redis
  private readonly logger: Logger
  private readonly historyLimit: (streamName: string) => HistoryLimit
  private readonly commandTimeoutMs: number
  private readonly heartbeatMs: number
  private readonly location: string
  private readonly listeners: StoreListener[] = []
  private readonly watched = new Map<string, Watched>()
  private readonly byChannel = new Map<string, Watched>()
  private epoch: string | undefined
  private runId = ''
  private candidate = newEpochId()
  /** The command connection is up and was checked (run id, eviction policy, epoch). */
  private usable = false
  /** The subscriber connection is up and listens on every watched group's channel. */
  private subReady = false
  private started = false
  private closed = false
  private checking: Promise<void> | undefined
  private resubscribing = false
  private beating = false
  /** The last heartbeat got no answer in time. */
  private unresponsive = false
  private heartbeat: NodeJS.Timeout | undefined
  private lastError: Error | undefined
  private lastProblem: string | undefined
  private outage = false

  private constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
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
      // The store resubscribes itself, so that it can repair every group after the resubscription.
      autoResubscribe: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Startup fails on the first refusal; once running, reconnect forever, at most a second apart.
      retryStrategy: (attempt) => (this.started && !this.closed ? Math.min(50 * 2 ** (attempt - 1), 1000) : null),
    }
    this.cmd = new Redis(options.url, { ...connection, connectionName: 'streamgate' })
    this.sub = new Redis(options.url, { ...connection, connectionName: 'streamgate-sub' })
    for (const connection of [this.cmd, this.sub]) {
      connection.on('error', (error: Error) => {
        this.lastError = error
        this.logger.debug({ err: error }, 'redis connection error')
      })
    }
    this.cmd.on('close', () => this.commandConnectionLost())
    this.cmd.on('ready', () => void this.commandConnectionReady())
    this.sub.on('close', () => this.subscriberConnectionLost())
    this.sub.on('ready', () => void this.subscriberConnectionReady())
    this.sub.on('message', (channel: string, message: string) => this.received(channel, message))
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
        await this.sub.connect()
      } catch (error) {
        throw new Error(`cannot connect to Redis at ${this.location}: ${(this.lastError ?? (error as Error)).message}`)
      }
      if (!this.usable) throw new Error(`lost the connection to Redis at ${this.location} while starting`)
      this.subReady = true
      this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs)
      this.heartbeat.unref()
      this.logger.info({ redis: this.location, prefix: this.prefix, epoch: this.epoch }, 'redis store connected')
    } catch (error) {
      this.closed = true
      this.cmd.disconnect()
      this.sub.disconnect()
      throw error
    }
  }

  /** Reads the server's run id and policy, then the epoch: the command connection is usable after this. */
  private checkServer(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const info = parseInfo(await this.cmd.info())
        const problem = redisServerProblem(info)
        if (problem) throw new Error(`Redis at ${this.location} cannot hold stream state: ${problem}`)
        if (!info.run_id) throw new Error(`Redis at ${this.location} did not report its run_id`)
        this.runId = info.run_id
        const candidate = this.candidate
        const epoch = String(await this.run(scripts.epoch, [epochKey(this.prefix)], [this.runId, candidate]))
        if (epoch === candidate) this.candidate = newEpochId()
        this.observeEpoch(epoch)
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

  private subscriberConnectionLost() {
    if (!this.subReady) return
    this.subReady = false
    this.reportOutage()
    for (const w of this.watched.values()) {
      w.subscribed = false
      this.reject(w, unavailable())
    }
  }

  /** Listens again on every watched channel, then checks each group against its history. */
  private async subscriberConnectionReady() {
    if (!this.started || this.closed || this.resubscribing) return
    this.resubscribing = true
    const groups = [...this.watched.values()]
    try {
      if (groups.length > 0) await this.sub.subscribe(...groups.map((w) => w.keys.channel))
    } catch (error) {
      this.logger.debug({ err: error }, 'redis store: resubscribing failed; the heartbeat retries')
      return
    } finally {
      this.resubscribing = false
    }
    // Groups no longer followed (unless followed again since) need not stay subscribed.
    const stale = groups.filter((w) => w.gone && !this.byChannel.has(w.keys.channel)).map((w) => w.keys.channel)
    if (stale.length > 0) this.sub.unsubscribe(...stale).catch(() => {})
    this.subReady = true
    this.reportRecovery()
    for (const w of groups) {
      if (w.gone) continue
      w.subscribed = true
      // Records published while the connection was down were missed: the history has them.
      if (w.lastSeq !== null) w.check = 'verify'
      void this.drain(w)
    }
    // Groups watched while the subscription was being restored.
    const restored = new Set(groups)
    for (const w of this.watched.values()) if (!w.subscribed && !restored.has(w)) this.listen(w)
  }

  private reportOutage() {
    if (this.outage || this.closed) return
    this.outage = true
    this.logger.warn({ redis: this.location }, 'redis store: connection lost; reads and writes fail with UNAVAILABLE until it is back')
  }

  private reportRecovery() {
    if (!this.outage || !this.ready()) return
    this.outage = false
    this.logger.info({ redis: this.location, epoch: this.epoch }, 'redis store: connection restored')
  }

  /**
   * Retries a check or resubscription that failed, notices a new epoch even when nothing is written
   * (FLUSHALL), and probes both connections: while Redis does not answer them (a hung server, a partition
   * that drops packets), the store reports not ready.
   */
  private async beat() {
    if (this.closed || this.beating) return
    if (!this.subReady && this.sub.status === 'ready') void this.subscriberConnectionReady()
    if (this.cmd.status !== 'ready') return
    if (!this.usable) return void this.commandConnectionReady()
    this.beating = true
    try {
      const probes: Array<Promise<unknown>> = [this.call(scripts.epoch, [epochKey(this.prefix)], [], (result) => String(result))]
      if (this.subReady) probes.push(this.sub.ping())
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

  /** Runs a script with the run id and a fresh candidate epoch; `epochOf` reads the epoch it saw from the result. */
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
      this.observeEpoch(epoch)
    }
    return result
  }

  /** A new epoch: every followed group's log restarted, so each is located again and reported lost. */
  private observeEpoch(epoch: string) {
    if (epoch === this.epoch) return
    const previous = this.epoch
    this.epoch = epoch
    if (previous === undefined) return
    this.logger.warn({ previous, epoch }, 'redis store: new epoch (Redis restarted or was flushed); every followed group re-syncs')
    for (const w of this.watched.values()) this.relocate(w)
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
        if (record.epoch !== this.epoch) {
          // Either a newer epoch this instance has not seen yet (adopting it relocates every group), or a
          // leftover of the previous one.
          await this.call(scripts.epoch, [epochKey(this.prefix)], [], (result) => String(result))
          if (w.queue[0] === record && record.epoch !== this.epoch) w.queue.shift()
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
      if (!w.gone && this.usable && this.subReady) {
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
    const [, seq] = await this.call<[string, string]>(scripts.position, [epochKey(this.prefix), w.keys.meta], [], (r) => r[0])
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
    const result = await this.call<string[]>(scripts.history, [epochKey(this.prefix), w.keys.meta, w.keys.log], [this.epoch!, w.lastSeq!], (r) => r[0])
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
    return groupKeys(this.prefix, streamName, groupId)
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

  async get(streamName: string, groupId: string, id: string): Promise<Item | null> {
    if (!this.usable) throw unavailable()
    try {
      const stored = await this.cmd.hget(this.keys(streamName, groupId).items, id)
      return stored === null ? null : (JSON.parse(itemJson(stored)) as Item)
    } catch (error) {
      throw storeError(error)
    }
  }

  async list(streamName: string, groupId: string): Promise<Item[]> {
    if (!this.usable) throw unavailable()
    try {
      return inCreationOrder(await this.cmd.hvals(this.keys(streamName, groupId).items))
    } catch (error) {
      throw storeError(error)
    }
  }

  async set(streamName: string, groupId: string, item: Item): Promise<WriteResult> {
    const keys = this.keys(streamName, groupId)
    const [json, previous] = await this.call<[string, string | null]>(
      scripts.set,
      [epochKey(this.prefix), keys.meta, keys.items, keys.log],
      [this.floor(streamName, groupId), ...this.historyArgs(streamName), keys.channel, item.id, JSON.stringify(item), this.head(streamName, groupId, item.id)],
      (r) => (JSON.parse(r[0]) as LogRecord).epoch,
    )
    return { previous: previous === null ? null : (JSON.parse(previous) as Item), record: JSON.parse(json) as LogRecord }
  }

  async delete(streamName: string, groupId: string, id: string): Promise<WriteResult | null> {
    const keys = this.keys(streamName, groupId)
    const json = await this.call<string | null>(
      scripts.delete,
      [epochKey(this.prefix), keys.meta, keys.items, keys.log],
      [this.floor(streamName, groupId), ...this.historyArgs(streamName), keys.channel, id, this.head(streamName, groupId, id)],
      (r) => (r === null ? undefined : (JSON.parse(r) as LogRecord).epoch),
    )
    if (json === null) return null
    const record = JSON.parse(json) as LogRecord & { item: Item }
    return { previous: record.item, record }
  }

  async send(streamName: string, groupId: string, id: string | undefined, event: CustomEvent): Promise<LogRecord> {
    const keys = this.keys(streamName, groupId)
    const json = await this.call<string>(
      scripts.send,
      [epochKey(this.prefix), keys.meta, keys.log],
      [this.floor(streamName, groupId), ...this.historyArgs(streamName), keys.channel, JSON.stringify(event), this.head(streamName, groupId, id)],
      (r) => (JSON.parse(r) as LogRecord).epoch,
    )
    return JSON.parse(json) as LogRecord
  }

  async snapshot(streamName: string, groupId: string, id?: string): Promise<Snapshot> {
    const w = await this.readable(streamName, groupId)
    const keys = this.keys(streamName, groupId)
    const [epoch, seq, ts, ...stored] = await this.call<string[]>(
      scripts.snapshot,
      [epochKey(this.prefix), keys.meta, keys.items],
      [w?.maxTs ?? 0, id ?? ''],
      (r) => r[0],
    )
    const timestamp = Number(ts)
    // The stamp of a group never written is a stand-in just below now, not the group's clock: were it the
    // floor, the next sync would store a clock (a key) for a group nobody wrote.
    if (w && Number(seq) > 0 && timestamp > w.maxTs) w.maxTs = timestamp
    return { items: inCreationOrder(stored), seq: Number(seq), timestamp, epoch: epoch! }
  }

  async history(streamName: string, groupId: string, epoch: string, afterSeq: number): Promise<LogRecord[] | null> {
    await this.readable(streamName, groupId)
    const keys = this.keys(streamName, groupId)
    const [, , status, ...records] = await this.call<string[]>(
      scripts.history,
      [epochKey(this.prefix), keys.meta, keys.log],
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
    if (this.subReady) this.listen(w)
  }

  /** The group is located only once its channel listens: every record after that position then arrives here. */
  private listen(w: Watched) {
    this.sub.subscribe(w.keys.channel).then(
      () => {
        if (w.gone || !this.subReady) return
        w.subscribed = true
        void this.drain(w)
      },
      (error) => this.logger.debug({ err: error }, 'redis store: subscribe failed; the reconnect resubscribes'),
    )
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
    if (this.sub.status === 'ready') this.sub.unsubscribe(w.keys.channel).catch(() => {})
  }

  ready() {
    return !this.closed && this.usable && this.subReady && !this.unresponsive
  }

  async close() {
    if (this.closed) return
    this.closed = true
    this.usable = false
    this.subReady = false
    clearInterval(this.heartbeat)
    for (const w of this.watched.values()) {
      w.gone = true
      clearTimeout(w.retry)
      this.reject(w, unavailable('the gateway is shutting down'))
    }
    await Promise.all(
      [this.cmd, this.sub].map(async (connection) => {
        try {
          if (connection.status === 'ready') await connection.quit()
        } catch {
          // already gone
        }
        connection.disconnect()
      }),
    )
  }
}
