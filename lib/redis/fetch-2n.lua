--[[
  fetch: move up to ARGV[1] jobs, queue by queue in the order given, from each queue into this
  poller's in-flight list for that queue. Atomic: a job is always in exactly one list.

  KEYS[2i-1]  queue:<q_i>                      (list; jobs are LPUSHed, so the oldest is at the right)
  KEYS[2i]    <in-flight list of this poller for q_i>
  KEYS[last]  the pollers registry (hash: identity → JSON list of its queues)
  ARGV[1]     maximum number of jobs to move in total
  ARGV[2..n+1] per-queue maximum for queue i (ARGV[i+1])
  ARGV[n+2]   this poller's identity
  ARGV[n+3]   its queues as JSON

  The poller registers itself again in the same step if it is missing (HSETNX: no write when it is
  there): a live poller whose heartbeat lapsed may have been dropped from the registry by another
  poller's recovery, and a job must never sit in an in-flight list that no recovery will look at.

  Returns a flat array: { i1, job1, i2, job2, … } where i is the 1-based queue index.
]]
local remaining = tonumber(ARGV[1])
local out = {}
local nqueues = (#KEYS - 1) / 2
redis.call('HSETNX', KEYS[#KEYS], ARGV[nqueues + 2], ARGV[nqueues + 3])
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
