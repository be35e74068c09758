--[[
  unique-delete: what sidekiq-unique-jobs' death handler does when a job dies (retries exhausted,
  or killed): delete every key of its digest — the queue-time lock and the runtime lock — whoever
  holds them, as the gem's `delete_by_digest.lua` (8.1.0) does, so a dead job never leaves a lock
  that would refuse every later enqueue.

  KEYS[1..4]  <digest>, <digest>:QUEUED, <digest>:PRIMED, <digest>:LOCKED
  KEYS[5..8]  <digest>:RUN, <digest>:RUN:QUEUED, <digest>:RUN:PRIMED, <digest>:RUN:LOCKED
  KEYS[9]     uniquejobs:digests (sorted set)

  Returns the number of keys deleted.
]]
local deleted = redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('ZREM', KEYS[9], KEYS[1])
return deleted
