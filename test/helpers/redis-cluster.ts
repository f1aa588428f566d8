import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { findBinary, redisServerBinary, TestRedis } from './redis-server.ts'

/**
 * A Redis Cluster of its own for a test: `masters` redis-servers with `--cluster-enabled yes` on free loopback
 * ports, each with `replicas` replicas, joined by `redis-cli --cluster create`. Slots move by the same steps
 * `redis-cli --cluster reshard` takes (SETSLOT IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE), so a
 * test can move exactly the slots its groups live in; masters die by `kill -9`.
 */

const run = promisify(execFile)

/** redis-cli (Debian's redis-tools, installed with redis-server), or an error that says how to get it. */
const redisCliBinary = () =>
  findBinary(
    'redis-cli',
    [process.env.REDIS_CLI, join(dirname(redisServerBinary()), 'redis-cli'), '/usr/bin/redis-cli'],
    'redis-cli is not installed: the Redis Cluster tests need it. Install it with `apt-get install redis-tools`, or set REDIS_CLI.',
  )

export interface ClusterNode {
  id: string
  port: number
  master: boolean
  /** The master this node replicates (replicas only). */
  masterId?: string
  slots: number[]
  failed: boolean
}

export interface TestClusterOptions {
  masters?: number
  replicas?: number
  /** `cluster-node-timeout`: how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number
  /** Leave these slots unassigned (the cluster then reports `cluster_state:fail`). */
  unassigned?: number[]
}

export class TestRedisCluster {
  private constructor(readonly servers: TestRedis[]) {}

  static async start(options: TestClusterOptions = {}): Promise<TestRedisCluster> {
    const masters = options.masters ?? 3
    const replicas = options.replicas ?? 1
    const args = [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 3000),
      // A replica of a killed master may take over whatever its replication offset.
      '--cluster-replica-validity-factor', '0',
    ]
    const servers = await Promise.all(Array.from({ length: masters * (1 + replicas) }, () => TestRedis.start({ args })))
    const cluster = new TestRedisCluster(servers)
    try {
      await run(redisCliBinary(), ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'])
      await cluster.settled()
      if (options.unassigned?.length) {
        // Every node forgets the slots: gossip never takes an owner's claim back by itself.
        for (const server of servers) await cluster.command(server.port, 'CLUSTER', 'DELSLOTS', ...options.unassigned)
        await cluster.until(async () => (await cluster.info(servers[0]!.port)).cluster_state === 'fail', 'the cluster to notice the unassigned slots')
      }
      return cluster
    } catch (error) {
      await cluster.close()
      throw error
    }
  }

  /** A seed URL, as a user passes to `--redis`: any one node. */
  url(index = 0) {
    return this.servers[index]!.url
  }

  server(port: number) {
    return this.servers.find((s) => s.port === port)!
  }

  command(port: number, ...args: Array<string | number>) {
    const [name, ...rest] = args
    return this.server(port).command(String(name), ...rest)
  }

  async info(port: number) {
    const text = String(await this.command(port, 'CLUSTER', 'INFO'))
    return Object.fromEntries(text.split('\r\n').filter(Boolean).map((line) => line.split(':') as [string, string]))
  }

  /** The cluster as a live node sees it. */
  async nodes(): Promise<ClusterNode[]> {
    const live = this.servers.find((s) => s.running)!
    const text = String(await this.command(live.port, 'CLUSTER', 'NODES'))
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, masterId, , , , , ...ranges] = line.split(' ')
        const slots: number[] = []
        for (const range of ranges) {
          if (range.startsWith('[')) continue
          const [from, to = from] = range.split('-').map(Number)
          for (let slot = from!; slot <= to!; slot++) slots.push(slot)
        }
        return {
          id: id!,
          port: Number(address!.split('@')[0]!.split(':')[1]),
          master: flags!.includes('master'),
          masterId: masterId === '-' ? undefined : masterId,
          slots,
          failed: flags!.includes('fail'),
        }
      })
  }

  async masters() {
    return (await this.nodes()).filter((n) => n.master && !n.failed && n.slots.length > 0)
  }

  async ownerOf(slot: number) {
    return (await this.masters()).find((n) => n.slots.includes(slot))!
  }

  /** Until every live node agrees: state ok, every master with its replicas connected. */
  async settled(ms = 30_000) {
    await this.until(async () => {
      for (const server of this.servers.filter((s) => s.running)) {
        if ((await this.info(server.port)).cluster_state !== 'ok') return false
      }
      const nodes = await this.nodes()
      for (const server of this.servers.filter((s) => s.running)) {
        const role = String(await this.command(server.port, 'ROLE'))
        const node = nodes.find((n) => n.port === server.port)
        if (!node || (node.master ? !role.startsWith('master') : !role.startsWith('slave'))) return false
        if (!node.master) {
          const info = String(await this.command(server.port, 'INFO', 'replication'))
          if (!info.includes('master_link_status:up')) return false
        }
      }
      return true
    }, 'the cluster to settle', ms)
  }

  /**
   * Moves one slot to the master on `toPort` the way `redis-cli --cluster reshard` does, one key per MIGRATE, so
   * a script on a group of the slot meets the half-moved states (ASK, TRYAGAIN) on the way.
   */
  async migrateSlot(slot: number, toPort: number, pauseMs = 0) {
    const from = await this.ownerOf(slot)
    const to = (await this.nodes()).find((n) => n.port === toPort)!
    if (from.id === to.id) return
    await this.command(to.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id)
    await this.command(from.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id)
    for (;;) {
      const keys = (await this.command(from.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 1)) as string[]
      if (keys.length === 0) break
      await this.command(from.port, 'MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys)
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
    }
    // The new owner first (as redis-cli does): until it knows, it would send clients back to the old one.
    await this.command(to.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id)
    await this.command(from.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id)
    for (const master of await this.masters()) await this.command(master.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id)
  }

  private async until(check: () => Promise<boolean>, what: string, ms = 30_000) {
    const deadline = Date.now() + ms
    for (;;) {
      try {
        if (await check()) return
      } catch {
        // a node restarting or not answering yet
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** `kill -9` of a master; resolves once one of its replicas has taken over its slots. */
  async killMaster(port: number) {
    const before = (await this.nodes()).find((n) => n.port === port)!
    await this.server(port).stop('SIGKILL')
    await this.until(async () => {
      const nodes = await this.nodes()
      return nodes.some((n) => n.master && !n.failed && n.port !== port && before.slots.every((slot) => n.slots.includes(slot)))
    }, `a replica to take over from the master on ${port}`, 60_000)
  }

  async close() {
    await Promise.all(this.servers.map((s) => s.close()))
  }
}
