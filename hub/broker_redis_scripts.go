package hub

import "github.com/redis/go-redis/v9"

// publishScript is the whole of a publish, atomically:
// fence check, epoch creation, seq, state, history (length and age bounded)
// and PUBLISH.
//
// KEYS: 1 meta, 2 state, 3 history, 4 fence
// ARGV: 1 fence, 2 candidate epoch, 3 state field, 4 op, 5 stored event,
// 6 history max length, 7 now (ms), 8 history max age (ms), 9 channel
// Returns {epoch, seq} or an error reply starting with HFSTALE.
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
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if ARGV[4] == 'removed' then
  redis.call('HDEL', KEYS[2], ARGV[3])
else
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], string.format('%d-0', seq), 't', ARGV[7], 'e', ARGV[5])
local age = tonumber(ARGV[8])
if age > 0 then
  local cutoff = tonumber(ARGV[7]) - age
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
redis.call('PUBLISH', ARGV[9], epoch .. '\n' .. string.format('%d', seq) .. '\n' .. ARGV[5])
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
