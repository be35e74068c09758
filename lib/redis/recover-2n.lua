--[[
  recover: give a dead poller's in-flight jobs back to their queues, drop it from the registry and
  hand back its leases, in one atomic step, if and only if its heartbeat has expired.

  One step, so nothing can slip between the moves and the deregistration: a poller that was only
  slow and fetches again afterwards registers itself again in the same step as its fetch
  (fetch-2n.lua), so a job is never left in a list that no recovery looks at. When several pollers
  race to recover the same poller, the first moves every job and the others find nothing to do.

  KEYS[1]          the dead poller's process hash `<identity>` (expires 60 s after its last heartbeat)
  KEYS[2]          the pollers registry (hash: identity → its queues as JSON)
  KEYS[3]          the pollers' classes (hash: identity → its classes as JSON)
  KEYS[4 .. 3+2n]  for each of its queues: its in-flight list, then `queue:<q>`
  KEYS[4+2n ..]    for each class whose leases to hand back (its own, and the caller's): the
                   class's lease hash, then its line
  ARGV[1]          the dead poller's identity
  ARGV[2]          its registry entry as the caller read it
  ARGV[3]          n, the number of queues

  Jobs are pushed at the right end of their queue, the end that is fetched next (as Sidekiq's
  requeue RPUSHes), oldest last so it runs first.

  Returns the number of jobs moved for each queue, in order; or -1 when the poller is alive (its
  process hash exists); or -2 when its registry entry changed since the caller read it (read
  again: it may list other queues).
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if entry and entry ~= ARGV[2] then return -2 end
local me = ARGV[1]
local n = tonumber(ARGV[3])
local moved = {}
for i = 1, n do
  local inflight, queue = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local m = 0
  while redis.call('LMOVE', inflight, queue, 'LEFT', 'RIGHT') do m = m + 1 end
  moved[i] = m
end
redis.call('HDEL', KEYS[2], me)
redis.call('HDEL', KEYS[3], me)
for k = 4 + 2 * n, #KEYS, 2 do
  redis.call('HDEL', KEYS[k], 'h|' .. me, 'w|' .. me)
  redis.call('LREM', KEYS[k + 1], 0, me)
end
return moved
