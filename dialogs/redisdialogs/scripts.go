package redisdialogs

import "github.com/redis/go-redis/v9"

// The keys of one conversation share a hash tag, {conversation key}, so
// the scripts touch one Redis Cluster slot:
//
//	m  hash    n: last log Seq, q: highest Message.Seq committed,
//	           v: state version, f: last fencing token, t: last queue ticket
//	s  string  session state (expires SessionTTL after the last commit)
//	l  list    log entries, Seq n-LLEN+1 … n (expires LogTTL after the last)
//	d  zset    done message IDs scored by their expiry (Unix ms)
//	k  string  the lock: the holder's fencing token (PX lease)
//	q  zset    the queue: members "ticket:expiry:id" scored by Seq
//
// Times come from the server (TIME), so replicas' clocks do not matter.
// The hash m, which counts the fencing tokens, lives at least a day after
// each lease, so a token is never granted twice to holders still alive.

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

// commitScript: KEYS m s d k l; ARGV token, version, done id, seq, state
// mode ("k" keep, "s" set, "d" delete), state, session ms, dedupe ms, log
// ms, meta ms, event channel, entries…. Returns {1, last log Seq, version},
// {0} when the lock is lost, {-1, version} when the version moved.
var commitScript = redis.NewScript(`
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {0} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[2]) then return {-1, v} end
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
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[8]), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
local seq = tonumber(ARGV[4])
if seq > 0 and seq > tonumber(redis.call('HGET', KEYS[1], 'q') or '0') then
  redis.call('HSET', KEYS[1], 'q', ARGV[4])
end
local n = #ARGV - 11
local last
if n > 0 then
  last = redis.call('HINCRBY', KEYS[1], 'n', n)
  redis.call('RPUSH', KEYS[5], unpack(ARGV, 12))
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
else
  last = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('DEL', KEYS[4])
if n > 0 then redis.call('PUBLISH', ARGV[11], last) end
return {1, last, v}
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
