import { createHash } from 'node:crypto'
import calculateSlot from 'cluster-key-slot'

/**
 * Where the Redis store keeps things. Every key and channel starts with the deployment's prefix (`--redis-prefix`,
 * default `streamgate:`), so several deployments (or a staging and a production gateway) can share one Redis
 * without seeing each other's streams. A group is named by `<n>:<stream>:<group>`, where `<n>` is the UTF-8
 * byte length of the stream name: stream names and group ids may contain `:` and the length keeps every
 * (stream, group) pair on its own keys.
 *
 * One Redis (standalone, or a primary with replicas):
 *
 * | Key                               | Type    | Holds                                                            |
 * |-----------------------------------|---------|------------------------------------------------------------------|
 * | `<prefix>epoch`                   | hash    | `id`: the epoch in every resume token; `runid`: the Redis process |
 * |                                   |         | (INFO `run_id`) it was created under                             |
 * | `<prefix>meta:<n>:<s>:<g>`        | hash    | `seq`: the group's last log position; `ts`: its clock (ms);      |
 * |                                   |         | `hb`: what its history weighs (bytes)                            |
 * | `<prefix>items:<n>:<s>:<g>`       | hash    | item id -> `<seq that created it>:<version>:<item JSON>`         |
 * |                                   |         | (creation order; the version is the seq of its last change)      |
 * | `<prefix>exp:<n>:<s>:<g>`         | zset    | the group's expiring items: id, scored by their time (ms)        |
 * | `<prefix>idem:<n>:<s>:<g>:<h>`    | string  | an idempotency key (`<h>`: its SHA-1, hex): the request's         |
 * |                                   |         | fingerprint and its answer; it has the key's ttl (PX)            |
 * | `<prefix>expiring`                | zset    | every expiring item, `[stream, group, id]` (JSON) scored by its  |
 * |                                   |         | time: what the expiry sweep reads (cluster: a slot of its own)   |
 * | `<prefix>log:<n>:<s>:<g>`         | list    | the group's newest log records (JSON), oldest first, within the  |
 * |                                   |         | stream's history bounds                                          |
 * | channel `<prefix>chan:<n>:<s>:<g>` | pub/sub | every record of the group, as written to the log                |
 * | `<prefix>groups:<n>:<s>`          | zset    | the stream's groups that hold items (score 0: ordered by id bytes) |
 * |                                   |         | (cluster: `groups:{<n>:<s>}`, a slot per stream; see below)       |
 *
 * A new epoch starts when `<prefix>epoch` is missing (Redis restarted empty, flushed) or was created under
 * another Redis process (a restart from an RDB/AOF file, which may predate acknowledged writes, or a failover
 * to a replica): every resume token from before then gives a reset sync.
 *
 * Redis Cluster: a script may only touch keys of one hash slot, so every key of a group carries the group's
 * name as its hash tag (`<prefix>meta:{<n>:<s>:<g>}` and so on, the channel too: sharded Pub/Sub channels
 * live in slots like keys), and the epoch is kept per slot, in `<prefix>epoch:{<t>}`, where `<t>` is a short
 * tag that hashes to the group's slot (`slotTag`). A group name containing `}` ends its tag early: its keys
 * still share one slot (they share the text before it). The prefix itself must not contain braces.
 *
 * Why per slot, not one epoch for the cluster and not one per group: the epoch is checked by every script, and
 * a script cannot reach another slot; a per-group epoch key would be created by reads of groups never written
 * (reads must leave nothing behind) and would tell a fresh group from a flushed one no better. A slot is what
 * moves between masters, whole, so its epoch travels with its groups.
 *
 * When a slot's epoch must change: its owner may lack writes that were acknowledged, which happens when a
 * replica took over (replication is asynchronous) or when a master restarted from its files. A slot moved by
 * resharding (MIGRATE) arrives complete, so it keeps its epoch and its subscribers notice nothing. A script
 * cannot be told reliably which node will run it (the client follows MOVED and ASK redirections), so the
 * script asks the node it runs on: `CLUSTER MYID` and INFO's `master_replid`/`master_replid2`, which Redis
 * renews on every restart and every promotion (the promoted replica keeps its old master's id as
 * `master_replid2`). The epoch hash records `node` and `replid` of the master that last confirmed it:
 * - same `replid`: the same master process, never restarted or demoted since: the epoch holds;
 * - same node, another `replid`: that node restarted (or was demoted and promoted again): a new epoch;
 * - `replid` is this node's `master_replid2`: this node is the promoted replica of that master: a new epoch;
 * - another node and neither id: the slot arrived by migration: the epoch holds and is re-stamped.
 * What this cannot see: a master that restarted (or failed over) and then failed over again before any
 * script touched the slot in between. Every followed group's slot is touched within a heartbeat of its
 * subscriber connection coming back, so this needs two failovers of one shard within about a second.
 *
 * Only idempotency keys have a TTL (a `volatile-*` eviction policy may evict them before their time: a retry
 * would then be written again; `noeviction` keeps them). Groups are never removed (like the memory store): `meta` and `log` stay after a group's
 * last item is deleted, so a group costs up to its history bound of memory even when empty.
 */
export const DEFAULT_REDIS_PREFIX = 'streamgate:'

export interface GroupKeys {
  /** The epoch the group's log positions belong to (one for the whole Redis, one per slot on a cluster). */
  epoch: string
  meta: string
  items: string
  log: string
  channel: string
  /** The group's expiring items. */
  exp: string
  /** Where the group remembers an idempotency key. */
  idem(key: string): string
}

/** The deployment's index of expiring items (redis-scripts.ts). */
export const expiringKey = (prefix: string) => `${prefix}expiring`

/** A fixed-length tail, so a group id with `:` cannot make two (group, key) pairs share a name. */
const keyHash = (key: string) => createHash('sha1').update(key).digest('hex')

export type KeyLayout = (streamName: string, groupId: string) => GroupKeys

/**
 * The index of a stream's groups that hold items. On a single Redis the write scripts keep it exact. On a
 * cluster it lives in its stream's slot, which a group's script cannot reach: the store adds a group after the
 * script that created its first item, and never removes one (listings skip groups left without items, and
 * groups are never removed anyway).
 */
export const groupIndexKey = (prefix: string, streamName: string, cluster: boolean) => {
  const name = `${Buffer.byteLength(streamName)}:${streamName}`
  return cluster ? `${prefix}groups:{${name}}` : `${prefix}groups:${name}`
}

const groupName = (streamName: string, groupId: string) => `${Buffer.byteLength(streamName)}:${streamName}:${groupId}`

export function standaloneLayout(prefix: string): KeyLayout {
  const epoch = `${prefix}epoch`
  return (streamName, groupId) => {
    const name = groupName(streamName, groupId)
    return {
      epoch,
      meta: `${prefix}meta:${name}`,
      items: `${prefix}items:${name}`,
      log: `${prefix}log:${name}`,
      channel: `${prefix}chan:${name}`,
      exp: `${prefix}exp:${name}`,
      idem: (key) => `${prefix}idem:${name}:${keyHash(key)}`,
    }
  }
}

export function clusterLayout(prefix: string): KeyLayout {
  if (/[{}]/.test(prefix)) throw new Error(`the Redis key prefix ${JSON.stringify(prefix)} contains a brace: on Redis Cluster it would change the hash slot of every key`)
  return (streamName, groupId) => {
    const tag = `{${groupName(streamName, groupId)}}`
    return {
      epoch: `${prefix}epoch:{${slotTag(calculateSlot(tag))}}`,
      meta: `${prefix}meta:${tag}`,
      items: `${prefix}items:${tag}`,
      log: `${prefix}log:${tag}`,
      channel: `${prefix}chan:${tag}`,
      exp: `${prefix}exp:${tag}`,
      idem: (key) => `${prefix}idem:${tag}:${keyHash(key)}`,
    }
  }
}

let slotTags: string[] | undefined

/** The shortest base-36 number whose hash slot is `slot`: the same on every instance. */
export function slotTag(slot: number): string {
  if (!slotTags) {
    const tags = new Array<string>(16384)
    let found = 0
    for (let n = 0; found < tags.length; n++) {
      const tag = n.toString(36)
      const at = calculateSlot(tag)
      if (tags[at] === undefined) {
        tags[at] = tag
        found += 1
      }
    }
    slotTags = tags
  }
  return slotTags[slot]!
}
