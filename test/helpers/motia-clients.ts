import { Stream as NodeStream } from '@motiadev/stream-client-node'
import { Stream as Browser02Stream } from '@motiadev/stream-client-browser'
import { Stream as Browser017Stream } from 'motia-browser-0.17'
import type { Frame } from './raw-ws.ts'
import { until } from './gateway.ts'

/**
 * Drives the real, unmodified Motia client packages. Nothing here changes how a client behaves: the wrappers
 * only read its state (subscription state, change counts, custom events) and, for wire-level assertions,
 * add a read-only listener to the client's current socket.
 */

export type Item = { id: string } & Record<string, unknown>

/** What the three packages have in common (their own types differ between versions). */
interface ClientSubscription<S> {
  getState(): S
  addChangeListener(listener: (state: S) => void): void
  onEvent(type: string, listener: (data: unknown) => void): void
  close(): void
}
interface ClientStream {
  subscribeItem(streamName: string, groupId: string, id: string): ClientSubscription<Item | null>
  subscribeGroup(streamName: string, groupId: string, sortKey?: string): ClientSubscription<Item[]>
  close(): void
}

/** The socket under a `Stream`: `ws` for the Node client, the global (undici) WebSocket for the browser ones. */
interface ClientSocket {
  readonly readyState: number
  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void
}

export interface ClientFlavor {
  name: string
  /** C2+ clients take `{protocols}`; 0.2.2 only takes the address (use `?authToken=`). */
  protocols: boolean
  /** stream-client-node: a socket 'error' (refused, 401, close while CONNECTING) is an uncaught exception (spec 6.6). */
  crashesOnSocketError: boolean
  /** browser 0.2.2: `close()` leaves the socket's listeners, so the closed stream reconnects forever (spec 6.1). */
  zombieOnClose: boolean
  create(address: string, protocols?: string[]): ClientStream
}

export const CLIENT_FLAVORS: ClientFlavor[] = [
  {
    name: '@motiadev/stream-client-node 0.17.6-beta.187',
    protocols: true,
    crashesOnSocketError: true,
    zombieOnClose: false,
    create: (address, protocols) => new NodeStream(address, { protocols }) as unknown as ClientStream,
  },
  {
    name: '@motiadev/stream-client-browser 0.2.2',
    protocols: false,
    crashesOnSocketError: false,
    zombieOnClose: true,
    create: (address) => new Browser02Stream(address) as unknown as ClientStream,
  },
  {
    name: '@motiadev/stream-client-browser 0.17.14-beta.196',
    protocols: true,
    crashesOnSocketError: false,
    zombieOnClose: false,
    create: (address, protocols) => new Browser017Stream(address, { protocols }) as unknown as ClientStream,
  },
]

export const flavor = (prefix: string) => {
  const found = CLIENT_FLAVORS.find((f) => f.name.startsWith(prefix))
  if (!found) throw new Error(`no client ${prefix}`)
  return found
}

/** A subscription plus what the test can observe of it: its state, how often it changed, its custom events. */
export class Watched<S> {
  changes = 0
  constructor(readonly subscription: ClientSubscription<S>) {
    subscription.addChangeListener(() => this.changes++)
  }
  get state(): S {
    return this.subscription.getState()
  }
  /** The first state change of a fresh subscription is its sync (the gateway answers every join). */
  get synced() {
    return this.changes > 0
  }
  /** Every payload of custom event `type`, one entry per listener call. */
  listen(type: string): unknown[] {
    const received: unknown[] = []
    this.subscription.onEvent(type, (data) => received.push(data))
    return received
  }
  close() {
    this.subscription.close()
  }
}

export class MotiaClient {
  readonly stream: ClientStream
  private readonly subscriptions: Array<Watched<unknown>> = []

  constructor(
    readonly flavor: ClientFlavor,
    address: string,
    protocols?: string[],
  ) {
    if (protocols && !flavor.protocols) throw new Error(`${flavor.name} takes no protocols`)
    this.stream = flavor.create(address, protocols)
  }

  /** The client's current socket (a new one after every reconnect). */
  get socket(): ClientSocket {
    const ws = (this.stream as unknown as { ws: ClientSocket | { ws: ClientSocket } }).ws
    return 'readyState' in ws ? ws : ws.ws
  }

  get open() {
    return this.socket.readyState === 1
  }

  item(streamName: string, groupId: string, id: string) {
    const watched = new Watched(this.stream.subscribeItem(streamName, groupId, id))
    this.subscriptions.push(watched as Watched<unknown>)
    return watched
  }

  group(streamName: string, groupId: string, sortKey?: string) {
    const watched = new Watched(this.stream.subscribeGroup(streamName, groupId, sortKey))
    this.subscriptions.push(watched as Watched<unknown>)
    return watched
  }

  /** Waits for the sync of every subscription made so far. */
  synced() {
    return until(() => this.subscriptions.every((s) => s.synced), `${this.flavor.name}: a sync for every subscription`)
  }

  /** Records every frame that reaches the current socket from now on (read-only listener). */
  tap(): Frame[] {
    const frames: Frame[] = []
    this.socket.addEventListener('message', (event) => frames.push(JSON.parse(String(event.data))))
    return frames
  }

  /**
   * Closes the stream once its socket is OPEN: closing while CONNECTING kills the process with the Node client,
   * and closing during the 2 s reconnect pause lets the pending timer open a new socket anyway. `force` closes
   * it as it is (teardown after a failure).
   */
  async close({ force = false } = {}) {
    if (!force) await until(() => this.open, `${this.flavor.name}: socket open before close`)
    this.stream.close()
  }
}

/** Items in a stable order, so a client's array can be compared with the store's. */
export const byId = <T extends { id: string }>(items: readonly T[]) => [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

/**
 * Scoped `uncaughtException` handler. While installed, vitest leaves uncaught exceptions to it (vitest only
 * reports them when its own listener is the only one); `take` consumes the expected ones and `dispose`
 * returns whatever was not expected, for the test to fail on.
 */
export function catchUncaught() {
  const errors: Error[] = []
  const handler = (error: Error) => errors.push(error)
  process.on('uncaughtException', handler)
  return {
    errors,
    take(pattern: RegExp) {
      const taken = errors.filter((e) => pattern.test(String(e?.message ?? e)))
      for (const e of taken) errors.splice(errors.indexOf(e), 1)
      return taken
    },
    dispose() {
      process.off('uncaughtException', handler)
      return errors
    },
  }
}

/** A seeded generator, so a burst is the same on every run. */
export function prng(seed: number) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
