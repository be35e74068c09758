--[[
  fetch: move up to ARGV[1] jobs, queue by queue in the order given, from each queue into this
  poller's in-flight list for that queue. Atomic: a job is always in exactly one list.

  KEYS[2i-1]     queue:<q_i>                      (list; jobs are LPUSHed, so the oldest is at the right)
  KEYS[2i]       <in-flight list of this poller for q_i>
  KEYS[last-2]   the pollers registry (hash: identity → JSON list of its queues)
  KEYS[last-1]   the pollers' classes (hash: identity → JSON list of its classes, whose leases it holds)
  KEYS[last]     this poller's process hash `<identity>` (its heartbeat)
  ARGV[1]        maximum number of jobs to move in total
  ARGV[2..n+1]   per-queue maximum for queue i (ARGV[i+1])
  ARGV[n+2]      this poller's identity
  ARGV[n+3]      its queues as JSON
  ARGV[n+4]      its classes as JSON

  A poller whose heartbeat has lapsed takes nothing: another poller may be recovering it, and
  would take what it fetched now (it would run twice). Its next heartbeat lets it fetch again.
  Otherwise the poller registers itself again in the same step if it is missing (HSETNX: no write
  when it is there): a live poller whose heartbeat lapsed may have been dropped from the registry
  by another poller's recovery, and a job must never sit in an in-flight list that no recovery
  will look at, nor a lease be held by a poller whose classes no recovery knows.

  Returns a flat array { i1, job1, i2, job2, … } where i is the 1-based queue index, or -1 when this
  poller's heartbeat has lapsed (nothing moved).
]]
local nqueues = (#KEYS - 3) / 2
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return -1 end
redis.call('HSETNX', KEYS[#KEYS - 2], ARGV[nqueues + 2], ARGV[nqueues + 3])
redis.call('HSETNX', KEYS[#KEYS - 1], ARGV[nqueues + 2], ARGV[nqueues + 4])
local remaining = tonumber(ARGV[1])
local out = {}
for i = 1, nqueues do
  if remaining <= 0 then break end
  local cap = math.min(remaining, tonumber(ARGV[i + 1]))
  local src, dst = KEYS[2 * i - 1], KEYS[2 * i]
  while cap > 0 do
    local job = redis.call('LMOVE', src, dst, 'RIGHT', 'LEFT')
    if not job then break end
    out[#out + 1] = i
    out[#out + 1] = job
    cap = cap - 1
    remaining = remaining - 1
  end
end
return out
