--[[
  settle: record a job's outcome and take it out of the poller's in-flight list, in one step, so a
  job is never both in flight and elsewhere, nor in neither. If the job is no longer in the
  in-flight list (another poller recovered it after this one's heartbeat expired), nothing is
  written: the recovered copy will run again (at-least-once) and must not be doubled.

  KEYS[1]  the in-flight list
  KEYS[2]  the destination: `retry` or `dead` (zset), `queue:<q>` (list), or any key for `ack`
  ARGV[1]  mode: 'ack' | 'retry' | 'dead' | 'requeue'
  ARGV[2]  the raw job exactly as fetched
  ARGV[3]  the payload to write (retry, dead); ignored otherwise
  ARGV[4]  score in float seconds (retry, dead)
  ARGV[5]  dead: drop entries scored below this (now − 180 days)
  ARGV[6]  dead: keep at most this many (Sidekiq's ZREMRANGEBYRANK 0 -N)

  Everything is checked before the job leaves flight — the score, and that the destination holds
  what Sidekiq keeps there — because a write Redis refuses after the LREM would lose the job: a
  refusal is an error with nothing written, and the job stays in flight (retried, or recovered).

  Returns 1 when the job was in flight and its outcome was written, 0 otherwise.
]]
local mode = ARGV[1]
local want = (mode == 'retry' or mode == 'dead') and 'zset' or (mode == 'requeue' and 'list' or nil)
if want then
  local t = redis.call('TYPE', KEYS[2]).ok
  if t ~= want and t ~= 'none' then
    return redis.error_reply('settle: ' .. KEYS[2] .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing written, the job stays in flight')
  end
end
if want == 'zset' then
  local s = tonumber(ARGV[4])
  if not s or s ~= s or s == math.huge or s == -math.huge then
    return redis.error_reply('settle: score ' .. ARGV[4] .. ' is not a finite number; nothing written, the job stays in flight')
  end
end
local removed = redis.call('LREM', KEYS[1], -1, ARGV[2])
if removed == 0 then return 0 end
if mode == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
elseif mode == 'dead' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]))
elseif mode == 'requeue' then
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
return 1
