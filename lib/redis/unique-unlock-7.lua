--[[
  unique-unlock: release a sidekiq-unique-jobs lock as the gem's server middleware does — the steps
  of its `unlock.lua` (8.1.0, the standard path: a worker's unlock, never a client's sync-locked
  one), in the same order, on the same keys, with the same changelog entries. A job that holds the
  lock (or finds it orphaned: nobody queued, primed or locked) deletes it and wakes any waiter; a
  job that does not hold it while others do only takes its own jid out of the lists.

  KEYS[1]  <digest>          (string: the jid)
  KEYS[2]  <digest>:QUEUED   (list)
  KEYS[3]  <digest>:PRIMED   (list)
  KEYS[4]  <digest>:LOCKED   (hash jid → time)
  KEYS[5]  <digest>:INFO
  KEYS[6]  uniquejobs:changelog  (sorted set)
  KEYS[7]  uniquejobs:digests    (sorted set)
  ARGV[1]  the jid
  ARGV[2]  the lock type as the payload names it (`until_expired` keeps LOCKED)
  ARGV[3]  lock_limit (1 unless the job says otherwise)
  ARGV[4]  now, float seconds (the changelog's time)
  ARGV[5]  how many changelog entries to keep (the gem's max_history; 0 writes none)

  Returns the jid when unlocked, nil when other jobs hold the lock ("Yielding to other lock holders").
]]
local digest, queued, primed, locked, info, changelog, digests = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local job_id = ARGV[1]
local lock_type = ARGV[2]
local limit = tonumber(ARGV[3]) or 1
local now = tonumber(ARGV[4])
local max_history = tonumber(ARGV[5]) or 0

-- The gem's `log` (shared/_common.lua): one changelog entry, the oldest trimmed, published.
local function log(message)
  if max_history == 0 then return end
  local entry = cjson.encode({ digest = digest, job_id = job_id, script = 'unlock.lua', message = message, time = now })
  redis.call('ZADD', changelog, now, entry)
  redis.call('ZREMRANGEBYRANK', changelog, 0, -1 * max_history)
  redis.call('PUBLISH', changelog, entry)
end

local holds_lock = redis.call('HEXISTS', locked, job_id) == 1
if not holds_lock then
  redis.call('LREM', queued, -1, job_id)
  redis.call('LREM', primed, -1, job_id)
  if redis.call('LLEN', queued) > 0 or redis.call('LLEN', primed) > 0 or redis.call('HLEN', locked) > 0 then
    log('Yielding to other lock holders')
    return nil
  end
  -- An orphaned lock: cleaned up below.
end

if lock_type ~= 'until_expired' then
  redis.call('HDEL', locked, job_id)
  if limit > 1 then
    local locked_count = redis.call('HLEN', locked)
    redis.call('UNLINK', digest, info)
    if locked_count < 1 then
      redis.call('UNLINK', locked, primed)
      redis.call('ZREM', digests, digest)
    elseif redis.call('LLEN', primed) == 0 then
      redis.call('UNLINK', primed)
    end
  else
    redis.call('UNLINK', digest, info, locked, primed)
    redis.call('ZREM', digests, digest)
  end
else
  redis.call('ZREM', digests, digest)
end

-- Wake a waiter blocked on QUEUED (the gem's BLMOVE), for at most 5 s.
redis.call('LPUSH', queued, '1')
redis.call('PEXPIRE', queued, 5000)
log('Unlocked')
return job_id
