import { createHash } from 'node:crypto'

/**
 * The Lua scripts of the Redis store (key layout: redis-keys.ts). Redis runs a script atomically: no other
 * command of any client runs between its first and its last call. So each write decides create/update, takes
 * the group's next sequence number and clock tick, updates the item, appends the record to the history and
 * publishes it as one step: gateway instances cannot disagree about order, a failed script has written
 * nothing, and what subscribers receive is exactly what the history holds.
 *
 * Every script takes the epoch key first and, as its first two arguments, the Redis run id the calling
 * instance checked when it connected (empty on a cluster) and a fresh candidate epoch; `current_epoch` starts a
 * new epoch with the candidate when the epoch key is missing (Redis restarted empty, or was flushed) or was
 * created under another Redis process (a restart from a snapshot file that may predate acknowledged writes, or
 * a failover). On a cluster the script identifies the node it runs on itself, since redirections decide where
 * it runs (the rules: redis-keys.ts), and publishes with SPUBLISH, whose channel lives in the group's slot.
 * Every record and every read reports the epoch it saw, so each instance notices a new epoch at its next command.
 *
 * Records are built here as JSON text, `{"epoch":..,"seq":..,"timestamp":..,"kind":..,<head>,"item"|"event":..}`,
 * where `<head>` (streamName, groupId, id) and the item or event JSON are prepared by the caller: Lua never
 * decodes user data, so numbers and strings reach subscribers exactly as the gateway encoded them.
 *
 * Timestamps come from Redis `TIME`, so instances share one clock source; a group's clock is
 * `max(now, last + 1)` ms. `floor` is the newest stamp the calling instance has delivered for the group: when
 * the stored clock is behind it (it was lost with an empty restart), the clock restarts above it, so the
 * instance's subscribers never see a stamp go backwards.
 */

/** One Redis: the caller checked the run id on the connection the script runs on. */
const standaloneEpoch = `
local function current_epoch(key, runid, candidate)
  local e = redis.call('HMGET', key, 'id', 'runid')
  if e[1] and e[2] == runid then return e[1] end
  redis.call('HSET', key, 'id', candidate, 'runid', runid)
  return candidate
end
local PUBLISH = 'PUBLISH'
`

/** Redis Cluster: the slot's epoch holds on the same master process and across migrations (redis-keys.ts). */
const clusterEpoch = `
local function current_epoch(key, _, candidate)
  local info = redis.call('INFO', 'replication')
  local replid = string.match(info, 'master_replid:(%w+)')
  local node = redis.call('CLUSTER', 'MYID')
  local e = redis.call('HMGET', key, 'id', 'node', 'replid')
  if e[1] then
    if e[3] == replid then return e[1] end
    if e[2] ~= node and e[3] ~= string.match(info, 'master_replid2:(%w+)') then
      redis.call('HSET', key, 'node', node, 'replid', replid)
      return e[1]
    end
  end
  redis.call('HSET', key, 'id', candidate, 'node', node, 'replid', replid)
  return candidate
end
local PUBLISH = 'SPUBLISH'
`

const prologue = `
local function int(n) return string.format('%d', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function tick(meta, floor)
  local m = redis.call('HMGET', meta, 'seq', 'ts')
  local seq = (tonumber(m[1]) or 0) + 1
  local last = tonumber(m[2]) or 0
  if last < floor then last = floor end
  local ts = math.max(now_ms(), last + 1)
  redis.call('HSET', meta, 'seq', int(seq), 'ts', int(ts))
  return seq, ts
end

local function record(epoch, seq, ts, kind, head, body)
  return '{"epoch":"' .. epoch .. '","seq":' .. int(seq) .. ',"timestamp":' .. int(ts) .. ',"kind":"' .. kind .. '",' .. head .. ',' .. body .. '}'
end

-- The history keeps the newest records within both bounds; meta 'hb' is what they weigh (bytes of JSON).
local function append(meta, log, records, bytes, channel, rec)
  local len = redis.call('RPUSH', log, rec)
  local weight = redis.call('HINCRBY', meta, 'hb', #rec)
  while len > 0 and (len > records or weight > bytes) do
    weight = redis.call('HINCRBY', meta, 'hb', -#redis.call('LPOP', log))
    len = len - 1
  end
  redis.call(PUBLISH, channel, rec)
end

local function item_json(stored)
  return string.sub(stored, string.find(stored, ':', 1, true) + 1)
end
`

/**
 * set: KEYS epoch, meta, items, log, groups; ARGV runid, candidate, floor, historyRecords, historyBytes, channel,
 * id, itemJson, head, groupId. A create lists the group in the stream's index of groups that hold items.
 * Returns {record, previous item JSON or nil}: `create` when the item did not exist, else `update`; the item
 * keeps the position it was created at.
 */
const set = `
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local previous = redis.call('HGET', KEYS[3], ARGV[7])
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local kind, created, before = 'create', int(seq), false
if previous then
  local at = string.find(previous, ':', 1, true)
  kind, created, before = 'update', string.sub(previous, 1, at - 1), string.sub(previous, at + 1)
end
redis.call('HSET', KEYS[3], ARGV[7], created .. ':' .. ARGV[8])
if not previous and KEYS[5] then redis.call('ZADD', KEYS[5], 0, ARGV[10]) end
local rec = record(epoch, seq, ts, kind, ARGV[9], '"item":' .. ARGV[8])
append(KEYS[2], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
return {rec, before}
`

/**
 * delete: KEYS epoch, meta, items, log, groups; ARGV runid, candidate, floor, historyRecords, historyBytes,
 * channel, id, head, groupId. The group leaves the stream's index with its last item.
 * Returns the delete record (its item is the deleted item), or nil when nothing existed: then nothing changes.
 */
const del = `
local previous = redis.call('HGET', KEYS[3], ARGV[7])
if not previous then return false end
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[7])
if KEYS[5] and redis.call('HLEN', KEYS[3]) == 0 then redis.call('ZREM', KEYS[5], ARGV[9]) end
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local rec = record(epoch, seq, ts, 'delete', ARGV[8], '"item":' .. item_json(previous))
append(KEYS[2], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
return rec
`

/**
 * send: KEYS epoch, meta, log; ARGV runid, candidate, floor, historyRecords, historyBytes, channel, eventJson,
 * head. Returns the record.
 */
const send = `
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local rec = record(epoch, seq, ts, 'event', ARGV[8], '"event":' .. ARGV[7])
append(KEYS[2], KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
return rec
`

/**
 * snapshot: KEYS epoch, meta, items; ARGV runid, candidate, floor, id ('' for the whole group).
 * Returns {epoch, seq, ts, stored items...}: the items and the log position they reflect, read atomically. A
 * sync carries the stamp of the last entry it reflects (reads do not advance the clock). A group never written
 * is not created: its sync is stamped just below now, and its first change is stamped at least now. A group
 * whose clock was lost (an empty restart) while this instance delivered stamps up to `floor` gets a tick above
 * it, so that its next change follows its sync.
 */
const snapshot = `
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local m = redis.call('HMGET', KEYS[2], 'seq', 'ts')
local seq = tonumber(m[1]) or 0
local ts = tonumber(m[2]) or 0
local floor = tonumber(ARGV[3])
if ts == 0 and floor == 0 then
  ts = now_ms() - 1
elseif ts < floor then
  ts = math.max(now_ms(), floor + 1)
  redis.call('HSET', KEYS[2], 'ts', int(ts))
end
local out = {epoch, int(seq), int(ts)}
if ARGV[4] ~= '' then
  local stored = redis.call('HGET', KEYS[3], ARGV[4])
  if stored then out[4] = stored end
else
  local all = redis.call('HVALS', KEYS[3])
  for i = 1, #all do out[i + 3] = all[i] end
end
return out
`

/**
 * history: KEYS epoch, meta, log; ARGV runid, candidate, wanted epoch, afterSeq.
 * Returns {epoch, seq, 'ok', records after afterSeq...}, or {epoch, seq, 'gone'} when the epoch is not the
 * current one, afterSeq is ahead of the log, or the history no longer holds every record after it.
 */
const history = `
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
local n = seq - tonumber(ARGV[4])
if epoch ~= ARGV[3] or n < 0 then return {epoch, int(seq), 'gone'} end
local out = {epoch, int(seq), 'ok'}
if n == 0 then return out end
if n > redis.call('LLEN', KEYS[3]) then return {epoch, int(seq), 'gone'} end
local records = redis.call('LRANGE', KEYS[3], -n, -1)
local head = '{"epoch":"' .. epoch .. '",'
if string.sub(records[1], 1, #head) ~= head then return {epoch, int(seq), 'gone'} end
for i = 1, #records do out[i + 3] = records[i] end
return out
`

/** position: KEYS epoch, meta; ARGV runid, candidate. Returns {epoch, seq}: where the group's log stands. */
const position = `
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
return {epoch, int(tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0)}
`

/** epoch: KEYS epoch; ARGV runid, candidate. Returns the current epoch (creating one when needed). */
const epochOnly = `
return current_epoch(KEYS[1], ARGV[1], ARGV[2])
`

export interface LuaScript {
  name: string
  lua: string
  sha: string
}

const script = (name: string, epoch: string, body: string): LuaScript => {
  const lua = `-- streamgate ${name}\n${epoch}${prologue}${body}`
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') }
}

const scriptSet = (epoch: string) => ({
  set: script('set', epoch, set),
  delete: script('delete', epoch, del),
  send: script('send', epoch, send),
  snapshot: script('snapshot', epoch, snapshot),
  history: script('history', epoch, history),
  position: script('position', epoch, position),
  epoch: script('epoch', epoch, epochOnly),
})

export type Scripts = ReturnType<typeof scriptSet>

export const standaloneScripts: Scripts = scriptSet(standaloneEpoch)
export const clusterScripts: Scripts = scriptSet(clusterEpoch)
