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

-- A stored item is '<created seq>:<version>:<item JSON>'; one written before versions existed is
-- '<created seq>:<item JSON>' and counts as version 0. Returns created, version, item JSON.
local function parse_item(stored)
  local a = string.find(stored, ':', 1, true)
  local created = string.sub(stored, 1, a - 1)
  if string.sub(stored, a + 1, a + 1) == '{' then return created, 0, string.sub(stored, a + 1) end
  local b = string.find(stored, ':', a + 1, true)
  return created, tonumber(string.sub(stored, a + 1, b - 1)), string.sub(stored, b + 1)
end

-- An idempotency key ('' fingerprint: none) is a string '<fingerprint>\\n<answer JSON>' with the key's ttl.
-- Returns {'replay', answer} for the same request, {'reused'} for another one, nil when the key is new.
local function replay(key, fingerprint)
  if fingerprint == '' then return nil end
  local kept = redis.call('GET', key)
  if not kept then return nil end
  local at = string.find(kept, '\\n', 1, true)
  if string.sub(kept, 1, at - 1) ~= fingerprint then return {'reused'} end
  return {'replay', string.sub(kept, at + 1)}
end

local function remember(key, fingerprint, ttl, answer)
  if fingerprint ~= '' then redis.call('SET', key, fingerprint .. '\\n' .. answer, 'PX', ttl) end
end

-- {'failed', version or ''} when a condition does not hold ('' if_version: none; if_absent '1': create only).
local function conditions_fail(exists, version, if_version, if_absent)
  if if_absent == '1' and exists then return {'failed', int(version)} end
  if if_version ~= '' and (not exists or version ~= tonumber(if_version)) then
    if exists then return {'failed', int(version)} end
    return {'failed', ''}
  end
  return nil
end
`

/**
 * Every write script reads its conditions and idempotency key before it changes anything (the epoch included:
 * a refusal or a replay reports no epoch, so it must not start one), and answers
 * {'replay', answer JSON} (the key's first answer: nothing written), {'reused'} (the key was for another
 * request), {'failed', version or ''} (a condition does not hold) or {'ok', ...} (written). Expiry: the group's
 * zset `exp` holds its expiring items by time; on a single Redis the scripts also keep the deployment's zset of
 * every expiring item (`expiring`, member `[stream, group, id]` as JSON) exact, which the sweep reads; on a
 * cluster that zset lives in its own slot and the store keeps it (redis-store.ts).
 */

/**
 * set: KEYS epoch, meta, items, log, exp, idem, [groups, expiring]; ARGV runid, candidate, floor, historyRecords,
 * historyBytes, channel, id, itemJson, head, groupId, ifVersion, ifAbsent, fingerprint, idempotencyTtlMs,
 * expiresAt ('' never), expiringMember. A create lists the group in the stream's index of groups that hold items.
 * Written: {'ok', record, previous item JSON or nil}: `create` when the item did not exist, else `update`; the
 * item keeps the position it was created at and takes the record's seq as its version.
 */
const set = `
local replayed = replay(KEYS[6], ARGV[13])
if replayed then return replayed end
local previous = redis.call('HGET', KEYS[3], ARGV[7])
local created, version, before = false, 0, false
if previous then created, version, before = parse_item(previous) end
local failed = conditions_fail(previous, version, ARGV[11], ARGV[12])
if failed then return failed end
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local kind = 'update'
if not previous then kind, created = 'create', int(seq) end
redis.call('HSET', KEYS[3], ARGV[7], created .. ':' .. int(seq) .. ':' .. ARGV[8])
if not previous and KEYS[7] then redis.call('ZADD', KEYS[7], 0, ARGV[10]) end
if ARGV[15] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[15], ARGV[7])
  if KEYS[8] then redis.call('ZADD', KEYS[8], ARGV[15], ARGV[16]) end
elseif redis.call('ZREM', KEYS[5], ARGV[7]) == 1 and KEYS[8] then
  redis.call('ZREM', KEYS[8], ARGV[16])
end
local rec = record(epoch, seq, ts, kind, ARGV[9], '"item":' .. ARGV[8])
append(KEYS[2], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
remember(KEYS[6], ARGV[13], ARGV[14], '{"record":' .. rec .. ',"previous":' .. (before or 'null') .. '}')
return {'ok', rec, before}
`

/**
 * delete: KEYS epoch, meta, items, log, exp, idem, [groups, expiring]; ARGV runid, candidate, floor,
 * historyRecords, historyBytes, channel, id, head, groupId, ifVersion, fingerprint, idempotencyTtlMs,
 * expiringMember. The group leaves the stream's index with its last item.
 * Written: {'ok', the delete record (its item is the deleted item)}; nil when nothing existed (and no
 * condition was set): then nothing changes.
 */
const del = `
local replayed = replay(KEYS[6], ARGV[11])
if replayed then return replayed end
local previous = redis.call('HGET', KEYS[3], ARGV[7])
local created, version, item = false, 0, false
if previous then created, version, item = parse_item(previous) end
local failed = conditions_fail(previous, version, ARGV[10], '')
if failed then return failed end
if not previous then return false end
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[7])
if KEYS[7] and redis.call('HLEN', KEYS[3]) == 0 then redis.call('ZREM', KEYS[7], ARGV[9]) end
if redis.call('ZREM', KEYS[5], ARGV[7]) == 1 and KEYS[8] then redis.call('ZREM', KEYS[8], ARGV[13]) end
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local rec = record(epoch, seq, ts, 'delete', ARGV[8], '"item":' .. item)
append(KEYS[2], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
remember(KEYS[6], ARGV[11], ARGV[12], '{"record":' .. rec .. ',"previous":' .. item .. '}')
return {'ok', rec}
`

/**
 * expire: KEYS epoch, meta, items, log, exp, [groups, expiring]; ARGV runid, candidate, floor, historyRecords,
 * historyBytes, channel, id, head, groupId, expiringMember. Deletes the item, as delete does, only if it is
 * still due by Redis' clock (a later set moved or cleared its time): so of several instances sweeping at once
 * exactly one deletes it. Returns {'deleted', record} or {'kept', its time or ''}.
 */
const expire = `
local due = redis.call('ZSCORE', KEYS[5], ARGV[7])
if not due or tonumber(due) > now_ms() then
  if KEYS[7] then
    if due then redis.call('ZADD', KEYS[7], due, ARGV[10]) else redis.call('ZREM', KEYS[7], ARGV[10]) end
  end
  return {'kept', due or ''}
end
redis.call('ZREM', KEYS[5], ARGV[7])
if KEYS[7] then redis.call('ZREM', KEYS[7], ARGV[10]) end
local previous = redis.call('HGET', KEYS[3], ARGV[7])
if not previous then return {'kept', ''} end
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[7])
if KEYS[6] and redis.call('HLEN', KEYS[3]) == 0 then redis.call('ZREM', KEYS[6], ARGV[9]) end
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local _, _, item = parse_item(previous)
local rec = record(epoch, seq, ts, 'delete', ARGV[8], '"item":' .. item)
append(KEYS[2], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
return {'deleted', rec}
`

/**
 * send: KEYS epoch, meta, log, idem; ARGV runid, candidate, floor, historyRecords, historyBytes, channel,
 * eventJson, head, fingerprint, idempotencyTtlMs. Written: {'ok', record}.
 */
const send = `
local replayed = replay(KEYS[4], ARGV[9])
if replayed then return replayed end
local epoch = current_epoch(KEYS[1], ARGV[1], ARGV[2])
local seq, ts = tick(KEYS[2], tonumber(ARGV[3]))
local rec = record(epoch, seq, ts, 'event', ARGV[8], '"event":' .. ARGV[7])
append(KEYS[2], KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], rec)
remember(KEYS[4], ARGV[9], ARGV[10], rec)
return {'ok', rec}
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
  expire: script('expire', epoch, expire),
  send: script('send', epoch, send),
  snapshot: script('snapshot', epoch, snapshot),
  history: script('history', epoch, history),
  position: script('position', epoch, position),
  epoch: script('epoch', epoch, epochOnly),
})

/**
 * A cluster's zset of expiring items, which no group's script can reach: KEYS expiring; ARGV member, the
 * score the sweep read, the item's time now ('' none). Moves the member only if nobody changed it since the
 * sweep read it (a set that gave the item a new time wrote its own score).
 */
const expiringUpdateBody = `
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen or tonumber(seen) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`

export const expiringUpdate = script('expiring-update', '', expiringUpdateBody)

export type Scripts = ReturnType<typeof scriptSet>

export const standaloneScripts: Scripts = scriptSet(standaloneEpoch)
export const clusterScripts: Scripts = scriptSet(clusterEpoch)
