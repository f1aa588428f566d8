import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import calculateSlot from 'cluster-key-slot'
import type { Cluster } from 'ioredis'
import type { Logger } from 'pino'
import RedisParser from 'redis-parser'
import type { ChannelEvents, ChannelSubscriber } from './redis-subscriber.ts'

/** How to reach and log in to every node of the cluster (what the `--redis` URL says for its seed). */
export interface ShardLogin {
  username?: string
  password?: string
  tls: boolean
  connectTimeoutMs: number
  commandTimeoutMs: number
}

interface Expected {
  command: 'auth' | 'ssubscribe' | 'sunsubscribe' | 'ping'
  channel?: string
  settle?: (error?: Error) => void
}

interface ShardHandlers {
  up(shard: Shard): void
  down(shard: Shard): void
  message(channel: string, message: string): void
  subscribed(shard: Shard, channel: string): void
  /** The server dropped the channel (its slot moved), or refused to subscribe it here (MOVED, CLUSTERDOWN). */
  dropped(shard: Shard, channel: string, why: string): void
}

/** A master whose connection was lost is tried again after this long (the heartbeat places channels again). */
const RECONNECT_MS = 250

const encode = (args: string[]) => {
  let out = `*${args.length}\r\n`
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`
  return out
}

/**
 * One subscriber connection to one master, speaking RESP2 itself: in subscribed mode Redis pushes an unsolicited
 * `sunsubscribe` when a channel's slot moves away, which a command-queue client (ioredis 5.11) takes for the reply
 * to its next command. Here every reply is matched by what it says: `smessage` is always a push, a `sunsubscribe`
 * is the reply to ours only when ours for that channel is the oldest one waiting, everything else answers the
 * oldest command (Redis answers in order).
 */
class Shard {
  readonly channels = new Set<string>()
  ready = false
  private closed = false
  private readonly socket: Socket
  private readonly waiting: Expected[] = []
  private readonly parser: RedisParser

  constructor(
    readonly address: string,
    login: ShardLogin,
    private readonly handlers: ShardHandlers,
    private readonly logger: Logger,
  ) {
    const at = address.lastIndexOf(':')
    const host = address.slice(0, at)
    const port = Number(address.slice(at + 1))
    this.parser = new RedisParser({
      returnReply: (reply: unknown) => this.reply(reply),
      returnError: (error: Error) => this.answer(error),
      returnFatalError: (error: Error) => {
        this.logger.error({ err: error, node: address }, 'redis store: unreadable reply from a subscriber connection')
        this.socket.destroy()
      },
    })
    this.socket = login.tls ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port })
    this.socket.setNoDelay(true)
    this.socket.setTimeout(login.connectTimeoutMs, () => this.socket.destroy(new Error(`connecting to ${address} timed out`)))
    this.socket.once(login.tls ? 'secureConnect' : 'connect', () => {
      this.socket.setTimeout(0)
      if (login.password === undefined) return this.opened()
      const args = login.username ? ['AUTH', login.username, login.password] : ['AUTH', login.password]
      this.send(args, { command: 'auth', settle: (error) => (error ? this.socket.destroy(error) : this.opened()) })
    })
    this.socket.on('data', (chunk: Buffer) => this.parser.execute(chunk))
    this.socket.on('error', (error) => this.logger.debug({ err: error, node: address }, 'redis subscriber connection error'))
    this.socket.on('close', () => {
      this.closed = true
      this.ready = false
      for (const expected of this.waiting.splice(0)) expected.settle?.(new Error(`the connection to ${address} closed`))
      this.handlers.down(this)
    })
  }

  private opened() {
    this.ready = true
    this.handlers.up(this)
  }

  private send(args: string[], expected: Expected) {
    if (this.closed) return expected.settle?.(new Error(`the connection to ${this.address} is closed`))
    this.waiting.push(expected)
    this.socket.write(encode(args))
  }

  subscribe(channel: string) {
    this.send(['SSUBSCRIBE', channel], { command: 'ssubscribe', channel })
  }

  unsubscribe(channel: string) {
    this.send(['SUNSUBSCRIBE', channel], { command: 'sunsubscribe', channel })
  }

  ping(timeoutMs: number) {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.address} did not answer a PING in ${timeoutMs} ms`)), timeoutMs)
      this.send(['PING'], { command: 'ping', settle: (error) => (clearTimeout(timer), error ? reject(error) : resolve()) })
    })
  }

  private reply(reply: unknown) {
    if (Array.isArray(reply) && reply[0] === 'smessage') return this.handlers.message(String(reply[1]), String(reply[2]))
    if (Array.isArray(reply) && reply[0] === 'sunsubscribe') {
      const oldest = this.waiting[0]
      if (oldest?.command !== 'sunsubscribe' || oldest.channel !== reply[1]) return this.handlers.dropped(this, String(reply[1]), 'its slot moved')
    }
    this.answer(reply)
  }

  private answer(reply: unknown) {
    const expected = this.waiting.shift()
    if (!expected) return this.logger.warn({ node: this.address, reply: String(reply) }, 'redis store: unexpected reply on a subscriber connection')
    const error = reply instanceof Error ? reply : undefined
    if (expected.command === 'ssubscribe') {
      if (error) this.handlers.dropped(this, expected.channel!, error.message)
      else this.handlers.subscribed(this, expected.channel!)
    }
    expected.settle?.(error)
  }

  close() {
    this.socket.destroy()
  }
}

/**
 * Sharded Pub/Sub on a Redis Cluster: one subscriber connection per master, each channel subscribed (SSUBSCRIBE)
 * on the master that owns its slot in the slot map of the store's ioredis Cluster. When the slot moves (the
 * server drops the channel, or refuses it with MOVED) or its master's connection is lost (a failover), the
 * channel is reported interrupted, the slot map is refreshed, and the channel is subscribed where the map now
 * points; it is reported listening once that master confirms.
 */
export class ShardedSubscriber implements ChannelSubscriber {
  private readonly wanted = new Map<string, number>()
  /** The shard each wanted channel is subscribed, or being subscribed, on. */
  private readonly placed = new Map<string, Shard>()
  private readonly listening = new Set<string>()
  private readonly shards = new Map<string, Shard>()
  /** When the last connection to each master was lost: the next attempt waits a little. */
  private readonly lostAt = new Map<string, number>()
  private masters = new Set<string>()
  private closed = false
  private readonly handlers: ShardHandlers

  constructor(
    private readonly cluster: Cluster,
    private readonly login: ShardLogin,
    private readonly events: ChannelEvents,
    private readonly logger: Logger,
  ) {
    this.handlers = {
      up: (shard) => {
        for (const channel of shard.channels) shard.subscribe(channel)
      },
      down: (shard) => {
        if (this.shards.get(shard.address) === shard) this.shards.delete(shard.address)
        this.lostAt.set(shard.address, Date.now())
        const lost = [...shard.channels].filter((channel) => this.unplace(channel, shard))
        if (lost.length > 0) this.events.interrupted(lost)
        if (!this.closed) this.cluster.refreshSlotsCache()
      },
      message: (channel, message) => this.events.message(channel, message),
      subscribed: (shard, channel) => {
        if (this.placed.get(channel) !== shard || this.listening.has(channel)) return
        this.listening.add(channel)
        this.events.listening([channel])
      },
      dropped: (shard, channel, why) => {
        this.logger.debug({ channel, node: shard.address, why }, 'redis store: a shard channel stopped listening; placing it again')
        if (this.unplace(channel, shard)) this.events.interrupted([channel])
        this.cluster.refreshSlotsCache()
      },
    }
    this.cluster.on('refresh', () => this.place())
  }

  /** Connects to every master, so that a cluster with an unreachable master does not start. */
  async start() {
    this.place()
    await Promise.all(
      [...this.shards.values()].map(
        (shard) =>
          new Promise<void>((resolve, reject) => {
            if (shard.ready) return resolve()
            const timer = setInterval(() => {
              if (shard.ready) resolve()
              else if (this.shards.get(shard.address) !== shard) reject(new Error(`cannot open a subscriber connection to ${shard.address}`))
              else return
              clearInterval(timer)
            }, 10)
          }),
      ),
    )
  }

  add(channel: string) {
    if (this.wanted.has(channel) || this.closed) return
    this.wanted.set(channel, calculateSlot(channel))
    this.place()
  }

  remove(channel: string) {
    if (!this.wanted.delete(channel)) return
    const shard = this.placed.get(channel)
    this.unplace(channel, shard)
    if (shard?.ready) shard.unsubscribe(channel)
  }

  /** Forgets where a channel was subscribed; true when it had been listening there. */
  private unplace(channel: string, shard: Shard | undefined) {
    if (!shard || this.placed.get(channel) !== shard) return false
    this.placed.delete(channel)
    shard.channels.delete(channel)
    return this.listening.delete(channel)
  }

  /** Subscribes every wanted channel on the master the slot map names for it. */
  private place() {
    if (this.closed) return
    const slots = this.cluster.slots
    this.masters = new Set(slots.map((nodes) => nodes?.[0]).filter((node): node is string => node !== undefined))
    for (const address of this.masters) this.shard(address)
    const moved: string[] = []
    for (const [channel, slot] of this.wanted) {
      const address = slots[slot]?.[0]
      const current = this.placed.get(channel)
      if (current?.address === address) continue
      if (current) {
        if (this.unplace(channel, current)) moved.push(channel)
        if (current.ready) current.unsubscribe(channel)
      }
      const shard = address === undefined ? undefined : this.shard(address)
      if (!shard) continue
      this.placed.set(channel, shard)
      shard.channels.add(channel)
      if (shard.ready) shard.subscribe(channel)
    }
    if (moved.length > 0) this.events.interrupted(moved)
    for (const [address, shard] of this.shards) {
      if (!this.masters.has(address) && shard.channels.size === 0) {
        this.shards.delete(address)
        shard.close()
      }
    }
  }

  private shard(address: string): Shard | undefined {
    let shard = this.shards.get(address)
    if (shard) return shard
    if (Date.now() - (this.lostAt.get(address) ?? 0) < RECONNECT_MS) return undefined
    this.shards.set(address, (shard = new Shard(address, this.login, this.handlers, this.logger)))
    return shard
  }

  /** Every master has its connection (a channel that moved is re-placed by itself; its group waits for it). */
  ready() {
    if (this.closed) return false
    for (const address of this.masters) if (!this.shards.get(address)?.ready) return false
    return true
  }

  async beat() {
    this.place()
    if (this.placed.size < this.wanted.size || this.listening.size < this.wanted.size || !this.ready()) this.cluster.refreshSlotsCache()
    await Promise.all([...this.shards.values()].filter((shard) => shard.ready).map((shard) => shard.ping(this.login.commandTimeoutMs)))
  }

  async close() {
    this.closed = true
    for (const shard of this.shards.values()) shard.close()
    this.shards.clear()
  }
}
