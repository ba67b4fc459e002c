package hub

import "github.com/redis/go-redis/v9"

// publishScript is the whole of a publish, atomically, for one event or
// several of one tenant, PBX and fence: fence check, epoch creation, then
// per event the seq, state, history and PUBLISH, then the history's age
// trim (its length is bounded by each XADD). The events get consecutive
// seqs.
//
// KEYS: 1 meta, 2 state, 3 history, 4 fence
// ARGV: 1 fence, 2 candidate epoch, 3 history max length, 4 now (ms),
// 5 history max age (ms), 6 channel, then per event: state field, op,
// stored event.
// Returns {epoch, last seq} or an error reply starting with HFSTALE (then
// no event was applied).
var publishScript = redis.NewScript(`
local fence = tonumber(ARGV[1])
if fence > 0 then
  local cur = tonumber(redis.call('GET', KEYS[4]) or '0')
  if fence < cur then
    return redis.error_reply('HFSTALE stale fencing epoch')
  end
  if fence > cur then
    redis.call('SET', KEYS[4], ARGV[1])
  end
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('DEL', KEYS[3])
end
local seq = 0
for i = 7, #ARGV, 3 do
  seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  if ARGV[i+1] == 'removed' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+2])
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], string.format('%d-0', seq), 't', ARGV[4], 'e', ARGV[i+2])
  redis.call('PUBLISH', ARGV[6], epoch .. '\n' .. string.format('%d', seq) .. '\n' .. ARGV[i+2])
end
local age = tonumber(ARGV[5])
if age > 0 then
  local cutoff = tonumber(ARGV[4]) - age
  local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
  if #first > 0 and tonumber(first[1][2][2]) < cutoff then
    local batch = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 512)
    local last = nil
    for _, e in ipairs(batch) do
      if tonumber(e[2][2]) < cutoff then last = e[1] else break end
    end
    if last then
      local n = tonumber(string.match(last, '^(%d+)'))
      redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d-0', n + 1))
    end
  end
end
return {epoch, seq}
`)

// snapshotScript reads the state and its seq atomically, creating the
// tenant's epoch when there is none yet.
//
// KEYS: 1 meta, 2 state, 3 history. ARGV: 1 candidate epoch.
// Returns {epoch, seq, {field, value, ...}}.
var snapshotScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
local epoch = m[1]
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('DEL', KEYS[3])
end
return {epoch, m[2] or '0', redis.call('HGETALL', KEYS[2])}
`)

// sinceScript returns the history after a seq when the epoch matches.
//
// KEYS: 1 meta, 2 history. ARGV: 1 epoch, 2 seq.
// Returns {0} when the epoch differs or seq is ahead of the tenant, else
// {1, current seq, XRANGE entries after seq}.
var sinceScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if m[1] ~= ARGV[1] then return {0} end
local cur = tonumber(m[2] or '0')
local from = tonumber(ARGV[2])
if from > cur then return {0} end
if from == cur then return {1, m[2] or '0', {}} end
return {1, m[2], redis.call('XRANGE', KEYS[2], string.format('%d-0', from + 1), '+', 'COUNT', cur - from)}
`)
