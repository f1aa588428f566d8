import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'

/** What a subscriber tells the store about the channels it was asked to listen on. */
export interface ChannelEvents {
  message(channel: string, message: string): void
  /**
   * These channels listen (again): every record published from now on arrives. Records published while they
   * did not listen were missed; the store repairs them from the history.
   */
  listening(channels: string[]): void
  /** These channels stopped listening (a lost connection, a slot that moved); the subscriber restores them. */
  interrupted(channels: string[]): void
}

/** The store's Pub/Sub side: one connection on a single Redis, one per master on a cluster. */
export interface ChannelSubscriber {
  /** Connects; throws with the reason when it cannot. */
  start(): Promise<void>
  add(channel: string): void
  remove(channel: string): void
  /** Its connections are up (channels being subscribed are reported by `listening`). */
  ready(): boolean
  /** Retries what failed, and resolves once every connection answered a PING (rejects when one does not). */
  beat(): Promise<void>
  close(): Promise<void>
}

/** SUBSCRIBE on one connection to a single Redis; after a reconnect it listens on every channel again. */
export class PlainSubscriber implements ChannelSubscriber {
  private readonly redis: Redis
  private readonly channels = new Set<string>()
  /** The connection is up and listens on every channel. */
  private connected = false
  private restoring = false
  private closed = false

  constructor(
    url: string,
    options: RedisOptions,
    private readonly events: ChannelEvents,
    private readonly logger: Logger,
  ) {
    // The store restores the subscriptions itself, so that it can repair every group afterwards.
    this.redis = new Redis(url, { ...options, autoResubscribe: false, connectionName: 'streamgate-sub' })
    this.redis.on('error', (error: Error) => this.logger.debug({ err: error }, 'redis subscriber connection error'))
    this.redis.on('close', () => this.lost())
    this.redis.on('ready', () => void this.restore())
    this.redis.on('message', (channel: string, message: string) => this.events.message(channel, message))
  }

  async start() {
    await this.redis.connect()
    this.connected = true
  }

  add(channel: string) {
    if (this.channels.has(channel) || this.closed) return
    this.channels.add(channel)
    if (this.connected) this.listen(channel)
  }

  private listen(channel: string) {
    this.redis.subscribe(channel).then(
      () => {
        if (this.connected && this.channels.has(channel)) this.events.listening([channel])
      },
      (error) => this.logger.debug({ err: error }, 'redis store: subscribe failed; the reconnect resubscribes'),
    )
  }

  remove(channel: string) {
    if (!this.channels.delete(channel)) return
    if (this.redis.status === 'ready') this.redis.unsubscribe(channel).catch(() => {})
  }

  private lost() {
    if (!this.connected) return
    this.connected = false
    this.events.interrupted([...this.channels])
  }

  private async restore() {
    if (this.closed || this.restoring || this.connected) return
    this.restoring = true
    const channels = [...this.channels]
    try {
      if (channels.length > 0) await this.redis.subscribe(...channels)
    } catch (error) {
      this.logger.debug({ err: error }, 'redis store: resubscribing failed; the heartbeat retries')
      return
    } finally {
      this.restoring = false
    }
    // Channels no longer wanted (unless wanted again since) need not stay subscribed.
    const stale = channels.filter((channel) => !this.channels.has(channel))
    if (stale.length > 0) this.redis.unsubscribe(...stale).catch(() => {})
    this.connected = true
    this.events.listening(channels.filter((channel) => this.channels.has(channel)))
    // Channels added while the subscription was being restored.
    const restored = new Set(channels)
    for (const channel of this.channels) if (!restored.has(channel)) this.listen(channel)
  }

  ready() {
    return this.connected
  }

  async beat() {
    if (!this.connected && this.redis.status === 'ready') void this.restore()
    if (this.connected) await this.redis.ping()
  }

  async close() {
    this.closed = true
    this.connected = false
    try {
      if (this.redis.status === 'ready') await this.redis.quit()
    } catch {
      // already gone
    }
    this.redis.disconnect()
  }
}
