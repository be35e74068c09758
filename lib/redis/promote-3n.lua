--[[
  promote: move a batch of due jobs from `retry` or `schedule` to their queues (or to the dead set),
  each job atomically and at most once. The client read the batch (ZRANGEBYSCORE) and rewrote each
  payload's `enqueued_at` itself (cjson would corrupt numbers, Pitfall 14); this script only moves
  bytes. A job is pushed only by the caller whose ZREM removed it, so several promoters — ours and
  Sidekiq's own `Scheduled::Enq` — never push the same job twice, and a job is never in neither place.

  KEYS[1]     the source sorted set: `retry` or `schedule`
  KEYS[2]     `queues` (set of queue names)
  KEYS[3]     `dead` (sorted set)
  KEYS[4..]   `queue:<q>` lists used by this batch, in the order of their names in ARGV
  ARGV[1]     now, float seconds: a member whose score is now above this (rescheduled since it was
              read) is left alone
  ARGV[2]     the dead-set score for jobs sent there (now, float seconds)
  ARGV[3]     dead-set trim: drop entries scored below this (now − 180 days)
  ARGV[4]     dead-set trim: keep at most this many (Sidekiq's ZREMRANGEBYRANK 0 -N)
  ARGV[5]     nq, the number of queue lists in KEYS[4..]
  ARGV[6 .. 5+nq]   the plain queue names (values are never namespaced) for SADD `queues`
  then triples:  member (exact bytes), k, payload
              k ≥ 1: LPUSH payload to KEYS[3+k]; k = 0: ZADD payload to `dead`

  Returns one status per triple, in order:
    1  promoted to its queue
    2  moved to the dead set (the client asked: unparseable payload)
    3  moved to the dead set unchanged because its queue key holds another type (LPUSH would fail
       after the ZREM and lose the job)
    0  not moved: another promoter took it, or it is no longer due
]]
local src, queues, dead = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local nq = tonumber(ARGV[5])
local out = {}
local added = {}
local usable = {}
local killed = false
local first = 6 + nq
for i = first, #ARGV, 3 do
  local member, k, payload = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local s = redis.call('ZSCORE', src, member)
  local status = 0
  if s and tonumber(s) <= now then
    if k > 0 then
      if usable[k] == nil then
        local t = redis.call('TYPE', KEYS[3 + k]).ok
        usable[k] = (t == 'list' or t == 'none')
      end
      if usable[k] then status = 1 else status = 3 end
    else
      status = 2
    end
    redis.call('ZREM', src, member)
    if status == 1 then
      if not added[k] then
        redis.call('SADD', queues, ARGV[5 + k])
        added[k] = true
      end
      redis.call('LPUSH', KEYS[3 + k], payload)
    elseif status == 2 then
      redis.call('ZADD', dead, ARGV[2], payload)
      killed = true
    else
      redis.call('ZADD', dead, ARGV[2], member)
      killed = true
    end
  end
  out[#out + 1] = status
end
if killed then
  redis.call('ZREMRANGEBYSCORE', dead, '-inf', ARGV[3])
  redis.call('ZREMRANGEBYRANK', dead, 0, -tonumber(ARGV[4]))
end
return out
