--[[
  unique-lock: take a sidekiq-unique-jobs lock for a job as the gem's worker side does, without
  waiting — the steps of its `Locksmith#lock!` on the non-sync path (8.1.0): `locked?` (HEXISTS),
  then `queue.lua`, then the move of the oldest queued token to PRIMED (its BLMOVE, which finds
  the token `queue.lua` just pushed, so it never blocks), then `lock.lua`; one atomic step here.
  Used where the gem's server middleware locks: a `while_executing` job's runtime lock
  (`<digest>:RUN`) before it runs, an `until_executed` / `until_expired` job whose lock is gone
  before it runs (`locksmith.execute`), and an `until_executing` job's lock taken back after a
  failure (`lock(wait: 0)`), so its retry stays unique.

  KEYS[1]  <digest>          (string: the jid)
  KEYS[2]  <digest>:QUEUED   (list)
  KEYS[3]  <digest>:PRIMED   (list)
  KEYS[4]  <digest>:LOCKED   (hash jid → time)
  KEYS[5]  <digest>:INFO
  KEYS[6]  uniquejobs:changelog          (sorted set)
  KEYS[7]  uniquejobs:digests            (sorted set)
  KEYS[8]  uniquejobs:expiring_digests   (sorted set)
  ARGV[1]  the jid
  ARGV[2]  lock_ttl in ms (0: none)
  ARGV[3]  the lock type as the payload names it
  ARGV[4]  lock_limit (1 unless the job says otherwise)
  ARGV[5]  the lock's score ('' for now)
  ARGV[6]  now, float seconds
  ARGV[7]  how many changelog entries to keep (0 writes none)

  Returns the jid when the job holds the lock now (or held it already), nil when others hold it
  up to the limit (queue.lua's "Limit exceeded", a token of another job first in line, or
  lock.lua's "Limited").
]]
local digest, queued, primed, locked, info, changelog, digests, expiring_digests = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local job_id = ARGV[1]
local pttl = tonumber(ARGV[2]) or 0
local lock_type = ARGV[3]
local limit = tonumber(ARGV[4]) or 1
local lock_score = ARGV[5]
local now = tonumber(ARGV[6])
local max_history = tonumber(ARGV[7]) or 0

-- The gem's `log` (shared/_common.lua), naming the gem's script the step belongs to.
local function log(script, message, prev_jid)
  if max_history == 0 then return end
  local entry = cjson.encode({ digest = digest, job_id = job_id, script = script, message = message, time = now, prev_jid = prev_jid })
  redis.call('ZADD', changelog, now, entry)
  redis.call('ZREMRANGEBYRANK', changelog, 0, -1 * max_history)
  redis.call('PUBLISH', changelog, entry)
end

-- locked?: a job that holds the lock runs without touching anything.
if redis.call('HEXISTS', locked, job_id) == 1 then return job_id end

-- queue.lua
local already_queued = false
if not redis.call('SET', digest, job_id, 'NX') then
  local prev_jid = redis.call('GET', digest)
  if prev_jid == job_id then
    log('queue.lua', 'Duplicate')
    already_queued = true
  elseif limit > redis.call('HLEN', locked) and redis.call('LLEN', queued) < limit then
    redis.call('SET', digest, job_id)
  else
    log('queue.lua', 'Limit exceeded', prev_jid)
    return nil
  end
end
if not already_queued then
  redis.call('LPUSH', queued, job_id)
  if pttl > 0 then
    redis.call('PEXPIRE', digest, pttl)
    redis.call('PEXPIRE', queued, pttl)
  end
  log('queue.lua', 'Queued')
end

-- The primed token: this job's, or the "1" an unlock left; another job's first in line wins (an
-- empty list is the gem's BLMOVE timing out).
local primed_jid = redis.call('LMOVE', queued, primed, 'RIGHT', 'LEFT')
if primed_jid ~= job_id and primed_jid ~= '1' then return nil end

-- lock.lua
local locked_count = redis.call('HLEN', locked)
if limit <= locked_count then
  log('lock.lua', 'Limited')
  return nil
end
if lock_type == 'until_expired' and pttl > 0 then
  redis.call('ZADD', expiring_digests, now + pttl, digest)
else
  redis.call('ZADD', digests, (#lock_score == 0) and now or lock_score, digest)
end
redis.call('HSET', locked, job_id, now)
if limit <= 1 then
  redis.call('UNLINK', queued, primed)
else
  redis.call('LREM', primed, 1, job_id)
  redis.call('LREM', queued, -1, job_id)
end
if pttl > 0 then
  redis.call('PEXPIRE', digest, pttl)
  redis.call('PEXPIRE', locked, pttl)
  redis.call('PEXPIRE', info, pttl)
end
log('lock.lua', 'Locked')
return job_id
