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

  Returns 1 when the job was in flight and its outcome was written, 0 otherwise.
]]
local removed = redis.call('LREM', KEYS[1], -1, ARGV[2])
if removed == 0 then return 0 end
local mode = ARGV[1]
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
