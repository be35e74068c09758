--[[
  ack: acknowledge many finished jobs of one queue at once — remove each from the poller's
  in-flight list. One call per event-loop turn instead of one per job.

  KEYS[1]  the in-flight list
  ARGV     the raw jobs, exactly as fetched

  Returns the number of jobs removed (a job another poller already recovered is not there).
]]
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('LREM', KEYS[1], -1, ARGV[i])
end
return n
