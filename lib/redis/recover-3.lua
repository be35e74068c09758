--[[
  recover: give an orphaned in-flight list back to its queue, if and only if its poller's
  heartbeat has expired. Atomic, so when several pollers race to recover the same list, the
  first moves every job and the others find it empty: each job goes back exactly once.

  KEYS[1]  the dead poller's process hash `<identity>` (expires 60 s after its last heartbeat)
  KEYS[2]  its in-flight list for one queue
  KEYS[3]  queue:<q>

  Jobs are pushed at the right end, the end that is fetched next (as Sidekiq's requeue RPUSHes),
  oldest last so it runs first. Returns the number of jobs moved, or -1 if the poller is alive.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do
  n = n + 1
end
return n
