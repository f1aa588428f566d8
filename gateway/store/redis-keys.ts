/**
 * Where the Redis store keeps things. Every key and channel starts with the deployment's prefix (`--redis-prefix`,
 * default `streamgate:`), so several deployments (or a staging and a production gateway) can share one Redis
 * without seeing each other's streams. A group is named by `<n>:<stream>:<group>`, where `<n>` is the UTF-8
 * byte length of the stream name: stream names and group ids may contain `:` and the length keeps every
 * (stream, group) pair on its own keys.
 *
 * | Key                               | Type    | Holds                                                            |
 * |-----------------------------------|---------|------------------------------------------------------------------|
 * | `<prefix>epoch`                   | hash    | `id`: the epoch in every resume token; `runid`: the Redis process |
 * |                                   |         | (INFO `run_id`) it was created under                             |
 * | `<prefix>meta:<n>:<s>:<g>`        | hash    | `seq`: the group's last log position; `ts`: its clock (ms)        |
 * | `<prefix>items:<n>:<s>:<g>`       | hash    | item id -> `<seq that created it>:<item JSON>` (creation order)  |
 * | `<prefix>log:<n>:<s>:<g>`         | list    | the group's newest log records (JSON), oldest first, at most the  |
 * |                                   |         | stream's `historySize`                                           |
 * | channel `<prefix>chan:<n>:<s>:<g>` | pub/sub | every record of the group, as written to the log                |
 * | `<prefix>groups:<n>:<s>`          | zset    | the stream's groups that hold items (score 0: ordered by id bytes) |
 *
 * No key has a TTL. Groups are never removed (like the memory store): `meta` and `log` stay after a group's
 * last item is deleted, so a group costs up to `historySize` records of memory even when empty.
 *
 * A new epoch starts when `<prefix>epoch` is missing (Redis restarted empty, flushed) or was created under
 * another Redis process (a restart from an RDB/AOF file, which may predate acknowledged writes, or a failover
 * to a replica): every resume token from before then gives a reset sync. The store needs a single Redis (or a
 * primary with replicas); Redis Cluster is not supported, because every script touches the epoch key and the
 * group's keys together.
 */
export const DEFAULT_REDIS_PREFIX = 'streamgate:'

export interface GroupKeys {
  meta: string
  items: string
  log: string
  channel: string
}

export const epochKey = (prefix: string) => `${prefix}epoch`

export const groupsKey = (prefix: string, streamName: string) => `${prefix}groups:${Buffer.byteLength(streamName)}:${streamName}`

export function groupKeys(prefix: string, streamName: string, groupId: string): GroupKeys {
  const name = `${Buffer.byteLength(streamName)}:${streamName}:${groupId}`
  return { meta: `${prefix}meta:${name}`, items: `${prefix}items:${name}`, log: `${prefix}log:${name}`, channel: `${prefix}chan:${name}` }
}
