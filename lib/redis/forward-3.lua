--[[
  forward: take a fetched job out of the poller's in-flight list and put it where the routing
  table sends it — its Ruby queue, its class's Lambda queue, or the class's held list (paused) —
  in one step, so a job is never both in flight and forwarded, nor in neither. If the job is no
  longer in flight (another poller recovered it after this one's heartbeat expired), nothing is
  written: the recovered copy is routed again when it is fetched.

  KEYS[1]  the in-flight list
  KEYS[2]  the destination list: `queue:<q>` or a held list
  KEYS[3]  `queues` (set of queue names)
  ARGV[1]  the raw job exactly as fetched
  ARGV[2]  the payload to push (the job marked or unmarked; `routed_from` records its Ruby queue)
  ARGV[3]  the plain queue name to add to `queues` (values are never namespaced), or '' for a held list

  The job is pushed at the left, as a client enqueues (LPUSH): it waits behind the jobs already
  there, like a fresh job.

  The destinations' types are checked before the job leaves flight (a write Redis refuses after
  the LREM would lose it): a refusal is an error with nothing written, and the job stays in flight.

  Returns 1 when the job was in flight and has been forwarded, 0 otherwise.
]]
for k, want in pairs({ [2] = 'list', [3] = 'set' }) do
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= want and t ~= 'none' then
    return redis.error_reply('forward: ' .. KEYS[k] .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing written, the job stays in flight')
  end
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then redis.call('SADD', KEYS[3], ARGV[3]) end
return 1
