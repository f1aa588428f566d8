import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'

/**
 * A TCP forwarder on a loopback port, for three jobs: a load balancer in front of gateway instances (each new
 * connection goes to the first target that accepts it, starting with the preferred one), a switch in front
 * of Redis that a test can cut and block to make one gateway lose Redis while the others keep it, and a
 * client that stops reading (`hold`): the target's writes back up as they would behind a slow network.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>()
  private blocked = false
  /** Which targets new connections went to, in order (a target's index, or -1 when none accepted). */
  readonly routed: number[] = []

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    public targets: number[],
  ) {}

  static async start(targets: number[]): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined
    const server = createServer((client) => void proxy!.accept(client))
    proxy = new TcpProxy(server, targets)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return proxy
  }

  get port() {
    return (this.server.address() as { port: number }).port
  }

  get connections() {
    return this.pairs.size
  }

  private async accept(client: Socket) {
    client.on('error', () => {})
    if (this.blocked) return void client.destroy()
    client.pause()
    for (let i = 0; i < this.targets.length; i++) {
      const upstream = connect(this.targets[i]!, '127.0.0.1')
      try {
        await once(upstream, 'connect')
      } catch {
        upstream.destroy()
        continue
      }
      if (client.destroyed || this.blocked) {
        upstream.destroy()
        client.destroy()
        return
      }
      this.routed.push(i)
      const pair = { client, upstream }
      this.pairs.add(pair)
      upstream.on('error', () => {})
      const end = () => {
        this.pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      client.once('close', end)
      upstream.once('close', end)
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
      return
    }
    this.routed.push(-1)
    client.destroy()
  }

  /** Stops reading from the targets: what they send waits in the kernel buffers, then in their own queues. */
  hold() {
    for (const { client, upstream } of this.pairs) {
      upstream.unpipe(client)
      upstream.pause()
    }
  }

  /** Forwards again what the targets sent meanwhile, and everything after it. */
  release() {
    for (const { client, upstream } of this.pairs) upstream.pipe(client)
  }

  /** Drops every open connection (both ends see the socket close). */
  cut() {
    for (const { client, upstream } of this.pairs) {
      client.destroy()
      upstream.destroy()
    }
    this.pairs.clear()
  }

  /** New connections are closed at once until `unblock` (existing ones stay unless `cut`). */
  block() {
    this.blocked = true
  }

  unblock() {
    this.blocked = false
  }

  async close() {
    this.cut()
    this.server.close()
    await once(this.server, 'close')
  }
}
