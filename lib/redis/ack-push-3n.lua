--[[
  ack-push: acknowledge a finished job and write the jobs it enqueued, in one step — they land if
  and only if the job's success is recorded, exactly once. If the job is no longer in flight
  (another poller recovered it after this one's heartbeat expired; it will run again and enqueue
  then), nothing is written.

  KEYS[1]          the in-flight list
  KEYS[2]          `queues` (set of queue names)
  KEYS[3]          `schedule` (sorted set)
  KEYS[4 .. 3+nq]  `queue:<q>` lists of the enqueued jobs, in the order of their names in ARGV
  ARGV[1]          the raw job exactly as fetched
  ARGV[2]          nq, the number of queue lists
  ARGV[3 .. 2+nq]  the plain queue names (values are never namespaced) for SADD `queues`
  then triples:    k, score, payload — k ≥ 1: LPUSH payload to KEYS[3+k]; k = 0: ZADD payload to
                   `schedule` at score (float seconds)

  Every key's type is checked before the first write, so a refusal leaves nothing half done.
  Returns 1 when written, 0 when the job was no longer in flight, or -k when KEYS[k] holds another
  type (nothing written).
]]
local nq = tonumber(ARGV[2])
local first = 3 + nq
local function usable(key, want)
  local t = redis.call('TYPE', key).ok
  return t == want or t == 'none'
end
if not usable(KEYS[2], 'set') then return -2 end
if not usable(KEYS[3], 'zset') then return -3 end
for k = 1, nq do
  if not usable(KEYS[3 + k], 'list') then return -(3 + k) end
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
for i = first, #ARGV, 3 do
  local k = tonumber(ARGV[i])
  if k == 0 then
    redis.call('ZADD', KEYS[3], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('SADD', KEYS[2], ARGV[2 + k])
    redis.call('LPUSH', KEYS[3 + k], ARGV[i + 2])
  end
end
return 1
