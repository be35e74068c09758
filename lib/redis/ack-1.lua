--[[
  ack: acknowledge many finished jobs of one queue at once — remove each from the poller's
  in-flight list. One call per event-loop turn instead of one per job.

  KEYS[1]  the in-flight list
  ARGV     the raw jobs, exactly as fetched

  Returns one flag per ARGV, in order: 1 when that job was removed, 0 when it was no longer in
  flight (another poller recovered it after this one's heartbeat expired; it will run again).
]]
local removed = {}
for i = 1, #ARGV do
  removed[i] = redis.call('LREM', KEYS[1], -1, ARGV[i])
end
return removed
