import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface SplitPlan {
  /** Offsets into what the client sends at which the relay stops, in increasing order. */
  cuts: number[]
  /** How long it stops at each cut. */
  stallMs: number
}

/**
 * A TCP relay in front of the gateway that delivers what the client sends in pieces: up to the first cut at
 * once, then a stall, up to the next cut, a stall, and so on. Each new connection takes the next plan. What
 * the gateway sends back is relayed as it comes. Real clients (Node's HTTP/1.1, HTTP/2 and TLS) go through it
 * unchanged, so their first bytes arrive split at chosen offsets.
 */
export class SplitProxy {
  private readonly plans: SplitPlan[] = []
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.relay(client, this.plans.shift() ?? { cuts: [], stallMs: 0 }))
  }

  static async start(targetPort: number): Promise<SplitProxy> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return new SplitProxy(server, targetPort)
  }

  get port() {
    return (this.server.address() as { port: number }).port
  }

  /** The plan of the next connection. */
  next(plan: SplitPlan) {
    this.plans.push(plan)
  }

  private relay(client: Socket, plan: SplitPlan) {
    const upstream = connect(this.targetPort, '127.0.0.1')
    upstream.setNoDelay(true)
    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.once('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    upstream.pipe(client)
    let sent = 0
    let pending = Buffer.alloc(0)
    let pumping = false
    const cuts = [...plan.cuts]
    const pump = async () => {
      if (pumping) return
      pumping = true
      while (pending.length > 0 && !upstream.destroyed) {
        const cut = cuts[0]
        const take = cut === undefined ? pending.length : Math.min(pending.length, cut - sent)
        if (take > 0) {
          upstream.write(pending.subarray(0, take))
          pending = pending.subarray(take)
          sent += take
        }
        if (cut !== undefined && sent === cut) {
          cuts.shift()
          await new Promise((r) => setTimeout(r, plan.stallMs))
        }
      }
      pumping = false
    }
    client.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk])
      void pump()
    })
    client.once('end', () => upstream.end())
  }

  async close() {
    for (const socket of this.sockets) socket.destroy()
    this.server.close()
    await once(this.server, 'close')
  }
}

/**
 * The first bytes a real client sends on a new connection: `start` opens one to the given port; everything
 * received until the client has been quiet for `quietMs` is returned. For replaying prefixes of it.
 */
export async function firstFlight(start: (port: number) => void, quietMs = 100): Promise<Buffer> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const connection = once(server, 'connection') as Promise<[Socket]>
  start((server.address() as { port: number }).port)
  const [socket] = await connection
  const chunks: Buffer[] = []
  await new Promise<void>((resolve) => {
    let timer = setTimeout(resolve, quietMs * 10)
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      clearTimeout(timer)
      timer = setTimeout(resolve, quietMs)
    })
  })
  socket.destroy()
  server.close()
  return Buffer.concat(chunks)
}
