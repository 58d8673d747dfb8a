package redisdialogs

import "github.com/redis/go-redis/v9"

// The keys of one conversation share a hash tag, {name}, so they sit in
// one Redis Cluster slot; the name is the conversation key, or its
// pseudonym with WithPseudonyms:
//
//	m  hash    n: last log Seq, q: highest Message.Seq committed,
//	           v: state version, f: last fencing token, t: last queue ticket;
//	           while the conversation is in the outbound queue also
//	           oc: delivery cursor, oa: failed attempts, os: since (Unix ms),
//	           ok: the conversation key, with pseudonyms only (Due returns
//	           it), and while it is leased ot: lease token, ol: lease end
//	           (Unix ms)
//	s  string  session state (expires SessionTTL after the last commit)
//	l  list    log entries, Seq n-LLEN+1 … n (expires LogTTL after the last)
//	d  zset    done message IDs scored by their expiry (Unix ms)
//	k  string  the lock: the holder's fencing token (PX lease)
//	q  zset    the queue: members "ticket:expiry:id" scored by Seq
//
// Two keys are global: the outbound queue, a zset of conversation names
// scored by when each is next due (Unix ms; the lease end while leased,
// +inf while held), and the dead letters, a list of JSON bot.DeadLetter
// values, newest first, trimmed to maxDeadLetters. The commit script
// names them too, so a Deliver costs no extra round trip; scripts that
// touch them reach keys of several slots, which a single Redis (or a
// primary with replicas) allows and Redis Cluster does not.
//
// Times come from the server (TIME), so replicas' clocks do not matter,
// except in the outbound queue: a commit makes a conversation due at the
// server's time, but Due compares due times with the caller's now, and
// lease ends and retry times are in the caller's clock, as
// bot.OutboxStore has it. A replica whose clock is behind the server's
// starts deliveries late by the difference: keep clocks in sync (NTP).
// The hash m, which counts the fencing tokens (the outbound queue's lease
// tokens come from the same counter), lives at least a day after each
// lease, so a token is never granted twice to holders still alive.

// deliveryFields are the fields of hash m that exist only while the
// conversation is in the outbound queue.
const deliveryFields = "'oc', 'oa', 'os', 'ok', 'ot', 'ol'"

// acquireScript: KEYS m s d k q; ARGV id, seq, inOrder ("1"/"0"), lease ms,
// wait ms. Returns {1, token, version, last Seq, state|nil} for a grant,
// {0} for a duplicate, {2} for a gap, {3} for busy.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, seq = ARGV[1], tonumber(ARGV[2])
local exp = redis.call('ZSCORE', KEYS[3], id)
if exp and tonumber(exp) > now then return {0} end

local q = redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES')
local live, mine, mineTk = {}, nil, nil
for i = 1, #q, 2 do
  local tk, ex, mid = string.match(q[i], '^(%d+):(%d+):(.*)$')
  if tonumber(ex) <= now then
    redis.call('ZREM', KEYS[5], q[i])
  elseif mid == id then
    mine, mineTk = q[i], tk
  else
    live[#live + 1] = {tk, tonumber(q[i + 1])}
  end
end
local ahead = false
for _, o in ipairs(live) do
  if o[2] < seq or (o[2] == seq and (mineTk == nil or o[1] < mineTk)) then ahead = true break end
end

local status = 3
if not ahead and redis.call('EXISTS', KEYS[4]) == 0 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'q') or '0')
  if ARGV[3] == '1' and seq > last + 1 then
    status = 2
  else
    if mine then redis.call('ZREM', KEYS[5], mine) end
    local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
    redis.call('SET', KEYS[4], f, 'PX', ARGV[4])
    if redis.call('PTTL', KEYS[1]) < 86400000 then redis.call('PEXPIRE', KEYS[1], 86400000) end
    return {1, f, tonumber(redis.call('HGET', KEYS[1], 'v') or '0'), last, redis.call('GET', KEYS[2])}
  end
end

if mine then redis.call('ZREM', KEYS[5], mine) end
if not mineTk then mineTk = string.format('%015d', redis.call('HINCRBY', KEYS[1], 't', 1)) end
redis.call('ZADD', KEYS[5], seq, mineTk .. ':' .. (now + tonumber(ARGV[5])) .. ':' .. id)
redis.call('PEXPIRE', KEYS[5], ARGV[5])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], 86400000) end
return {status}
`)

// commitScript: KEYS m s d k l q outbox dead archive, and with forget and
// pseudonyms the legacy keys (see forgetScript); ARGV token, version, done
// id, seq, state mode ("k" keep, "s" set, "d" delete), state, session ms,
// dedupe ms, log ms, meta ms, event channel, flags ("f" forget, "o"
// deliver, "a" archive), conversation name, dead-letter prefix, raw
// conversation key (with pseudonyms, else empty), archive delay ms,
// entries…. Returns {1, last log Seq, version, log generation}, {0} when
// the lock is lost, {-1, version} when the version moved.
//
// With the archive (see archive.go), the hash also keeps the log's first
// Seq (lb), generation (lg) and end (lx, server ms): a commit that appends
// to a log that has ended (or was forgotten) starts a new generation, and
// every commit that appends puts the conversation in the archive's sorted
// set, due the archive delay later. Forget starts a new generation too and
// makes the conversation due at once, so that the archiver erases the
// archived copies if the Store that forgot could not.
//
// Forget deletes the state, the log, the done marks, the queue places, the
// delivery fields, the outbound queue's member, the conversation's dead
// letters and its legacy keys first; the counters stay, so Seq numbers
// continue. Deliver with entries puts the conversation in the outbound
// queue, due now, with its cursor before the new entries (and its raw key,
// with pseudonyms); a held conversation becomes due now, and one that is
// due, leased or waiting for a retry keeps its time.
var commitScript = redis.NewScript(`
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {0} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[2]) then return {-1, v} end
local flags, conv = ARGV[12], ARGV[13]
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
local arch = string.find(flags, 'a', 1, true)
local lg = 0
if string.find(flags, 'f', 1, true) then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[5], KEYS[6])
  redis.call('HDEL', KEYS[1], ` + deliveryFields + `)
  redis.call('ZREM', KEYS[7], conv)
  local p = ARGV[14]
  for _, x in ipairs(redis.call('LRANGE', KEYS[8], 0, -1)) do
    if string.sub(x, 1, #p) == p then redis.call('LREM', KEYS[8], 0, x) end
  end
  if #KEYS > 9 then
    redis.call('DEL', KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15])
    redis.call('ZREM', KEYS[16], ARGV[15])
  end
  if arch then
    lg = math.max(clock(), tonumber(redis.call('HGET', KEYS[1], 'lg') or '0') + 1)
    redis.call('HSET', KEYS[1], 'lg', lg)
    redis.call('HDEL', KEYS[1], 'lx', 'lb')
    redis.call('ZADD', KEYS[9], clock(), conv)
  end
end
local mode = ARGV[5]
if mode == 'k' then
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
else
  if mode == 's' then
    redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[7])
  else
    redis.call('DEL', KEYS[2])
  end
  v = redis.call('HINCRBY', KEYS[1], 'v', 1)
end
if ARGV[3] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', clock())
  redis.call('ZADD', KEYS[3], clock() + tonumber(ARGV[8]), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
local seq = tonumber(ARGV[4])
if seq > 0 and seq > tonumber(redis.call('HGET', KEYS[1], 'q') or '0') then
  redis.call('HSET', KEYS[1], 'q', ARGV[4])
end
local n = #ARGV - 16
local last
if n > 0 then
  if arch then
    local f = redis.call('HMGET', KEYS[1], 'n', 'lb', 'lg', 'lx')
    local prev = tonumber(f[1] or '0')
    local alive
    if f[4] then alive = tonumber(f[4]) > clock() else alive = redis.call('EXISTS', KEYS[5]) == 1 end
    if not alive then
      redis.call('DEL', KEYS[5])
      lg = math.max(clock(), tonumber(f[3] or '0') + 1)
      redis.call('HSET', KEYS[1], 'lb', prev + 1, 'lg', lg)
    else
      lg = tonumber(f[3] or '0')
      if not f[2] then redis.call('HSET', KEYS[1], 'lb', prev - redis.call('LLEN', KEYS[5]) + 1) end
      if lg == 0 then
        lg = clock()
        redis.call('HSET', KEYS[1], 'lg', lg)
      end
    end
    redis.call('HSET', KEYS[1], 'lx', clock() + tonumber(ARGV[9]))
    redis.call('ZADD', KEYS[9], clock() + tonumber(ARGV[16]), conv)
  end
  last = redis.call('HINCRBY', KEYS[1], 'n', n)
  redis.call('RPUSH', KEYS[5], unpack(ARGV, 17))
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
  if string.find(flags, 'o', 1, true) then
    local due = redis.call('ZSCORE', KEYS[7], conv)
    if not due then
      redis.call('ZADD', KEYS[7], clock(), conv)
      redis.call('HSET', KEYS[1], 'oc', last - n, 'oa', 0, 'os', clock())
      if ARGV[15] ~= '' then redis.call('HSET', KEYS[1], 'ok', ARGV[15]) end
    elseif due == 'inf' then
      redis.call('ZADD', KEYS[7], clock(), conv)
    end
  end
else
  last = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('DEL', KEYS[4])
if n > 0 then redis.call('PUBLISH', ARGV[11], last) end
return {1, last, v, lg}
`)

// releaseScript: KEYS k q; ARGV token, id.
var releaseScript = redis.NewScript(`
if ARGV[1] ~= '0' and redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local q = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #q do
  if string.match(q[i], '^%d+:%d+:(.*)$') == ARGV[2] then redis.call('ZREM', KEYS[2], q[i]) end
end
return 1
`)

// entriesScript: KEYS m l; ARGV after, limit. Returns {first Seq, entries}.
var entriesScript = redis.NewScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local first = n - redis.call('LLEN', KEYS[2]) + 1
local from = math.max(tonumber(ARGV[1]) + 1, first)
local to = math.min(n, from + tonumber(ARGV[2]) - 1)
if from > to then return {from, {}} end
return {from, redis.call('LRANGE', KEYS[2], from - first, to - first)}
`)

// forgetScript: KEYS m s d k q l outbox dead archive, and with pseudonyms
// the legacy keys: m s d k q l under the raw conversation key and the
// outbound queue of raw keys; ARGV conversation name, dead-letter prefix,
// raw conversation key, "a" with the archive. It deletes what
// commitScript's forget does, and the lock, so that a turn in flight
// cannot write back what it read. The legacy keys go whole: their names
// hold the raw key. With the archive it starts a new log generation, makes
// the conversation due in the archive's set (see commitScript) and returns
// the generation; else 0.
var forgetScript = redis.NewScript(`
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HDEL', KEYS[1], ` + deliveryFields + `)
redis.call('ZREM', KEYS[7], ARGV[1])
local p = ARGV[2]
for _, x in ipairs(redis.call('LRANGE', KEYS[8], 0, -1)) do
  if string.sub(x, 1, #p) == p then redis.call('LREM', KEYS[8], 0, x) end
end
if #KEYS > 9 then
  redis.call('DEL', KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15])
  redis.call('ZREM', KEYS[16], ARGV[3])
end
if ARGV[4] ~= 'a' or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lg = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'lg') or '0') + 1)
redis.call('HSET', KEYS[1], 'lg', lg)
redis.call('HDEL', KEYS[1], 'lx', 'lb')
redis.call('ZADD', KEYS[9], now, ARGV[1])
return lg
`)

// dueScript: KEYS outbox; ARGV now ms, n, lease ms, key prefix. It leases
// up to n conversations due at or before now, oldest first, and returns
// {key, cursor, last Seq, attempts, since ms, token} for each, the key
// being the raw key kept in the hash (ok) with pseudonyms, else the
// member. A member whose hash lost its delivery fields (it expired) leaves
// the queue.
var dueScript = redis.NewScript(`
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[3])
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
for _, conv in ipairs(due) do
  local m = ARGV[4] .. '{' .. conv .. '}:m'
  local f = redis.call('HMGET', m, 'oc', 'oa', 'os', 'n', 'ok')
  if not f[3] then
    redis.call('ZREM', KEYS[1], conv)
  else
    local tk = redis.call('HINCRBY', m, 'f', 1)
    redis.call('HSET', m, 'ot', tk, 'ol', now + lease)
    redis.call('ZADD', KEYS[1], now + lease, conv)
    if redis.call('PTTL', m) < 86400000 then redis.call('PEXPIRE', m, 86400000) end
    out[#out + 1] = {f[5] or conv, tonumber(f[1]), tonumber(f[4] or '0'), tonumber(f[2]), tonumber(f[3]), tk}
  end
end
return out
`)

// settleScript: KEYS m outbox dead; ARGV conversation name, token,
// through, retry ms (0 for none), hold ("1"/"0"), the lease's last Seq,
// max dead letters, dead letters…. Returns {1} when settled, {0} when the
// lease is lost, {-2, last Seq} when through is beyond the log's last Seq.
var settleScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local conv = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'ot', 'ol', 'oc', 'oa', 'n')
if f[1] ~= ARGV[2] or tonumber(f[2] or '0') <= now or not redis.call('ZSCORE', KEYS[2], conv) then return {0} end
local last, through = tonumber(f[5] or '0'), tonumber(ARGV[3])
if through > last then return {-2, last} end
local cursor = math.max(tonumber(f[3]), through)
local attempts = tonumber(f[4])
if cursor > tonumber(f[3]) then attempts = 0 end -- a new entry's tries start over
for i = 8, #ARGV do redis.call('LPUSH', KEYS[3], ARGV[i]) end
if #ARGV >= 8 then redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1) end
redis.call('HDEL', KEYS[1], 'ot', 'ol')
if ARGV[4] ~= '0' then
  redis.call('ZADD', KEYS[2], ARGV[4], conv)
  redis.call('HSET', KEYS[1], 'oc', cursor, 'oa', attempts + 1)
elseif ARGV[5] == '1' then
  if last > tonumber(ARGV[6]) then
    redis.call('ZADD', KEYS[2], now, conv)
  else
    redis.call('ZADD', KEYS[2], '+inf', conv)
  end
  redis.call('HSET', KEYS[1], 'oc', cursor)
elseif cursor >= last then
  redis.call('ZREM', KEYS[2], conv)
  redis.call('HDEL', KEYS[1], ` + deliveryFields + `)
else
  redis.call('ZADD', KEYS[2], now, conv)
  redis.call('HSET', KEYS[1], 'oc', cursor, 'oa', 0)
end
if redis.call('PTTL', KEYS[1]) < 86400000 then redis.call('PEXPIRE', KEYS[1], 86400000) end
return {1}
`)
