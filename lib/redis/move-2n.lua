--[[
  move: move waiting jobs of one list to other lists (a migration between Ruby's and Lambda's side,
  a pause, a resume), each job atomically and at most once, safe while Ruby processes, pollers and
  other migrations pop, push and move the same jobs. The caller read the jobs (LRANGE) and rewrote
  each payload itself (byte-exact; never cjson); this script only moves bytes. A job is moved only
  if it is still in the source list when the script runs — removed and pushed in the same step —
  so a job popped meanwhile is not duplicated, and a job is never in neither place.

  KEYS[1]     the source list (`queue:<q>` or a held list)
  KEYS[2]     `queues` (set of queue names)
  KEYS[3..]   the destination lists, in the order of ARGV[2 .. 1+n]
  ARGV[1]     n, the number of destination lists
  ARGV[2 .. 1+n]  for each destination, the plain queue name to add to `queues`, or '' (a held list)
  then triples: raw (exact bytes in the source), k, payload — push payload to KEYS[2+k]

  Each job is removed once from the source's right (LREM -1: the oldest copy) and pushed at the
  right of its destination (RPUSH: fetched next). The caller passes jobs newest first, so the
  oldest lands last and is fetched first: a moved group keeps its order, ahead of newer jobs.

  The destinations' types are checked before the first job moves (a write Redis refuses after an
  LREM would lose that job): a refusal is an error with nothing moved.

  Returns one status per triple, in order: 1 moved, 0 not found (popped or moved meanwhile).
]]
local n = tonumber(ARGV[1])
for k = 2, 2 + n do
  local want = k == 2 and 'set' or 'list'
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= want and t ~= 'none' then
    return redis.error_reply('move: ' .. KEYS[k] .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing moved')
  end
end
local first = 2 + n
local out = {}
local added = {}
for i = first, #ARGV, 3 do
  local status = 0
  local k = tonumber(ARGV[i + 1])
  if redis.call('LREM', KEYS[1], -1, ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2 + k], ARGV[i + 2])
    local name = ARGV[1 + k]
    if name ~= '' and not added[k] then
      redis.call('SADD', KEYS[2], name)
      added[k] = true
    end
    status = 1
  end
  out[#out + 1] = status
end
return out
