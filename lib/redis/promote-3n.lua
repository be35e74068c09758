--[[
  promote: move a batch of due jobs from `retry` or `schedule` to their queues (or to the dead set),
  each job atomically and at most once. The client read the batch (ZRANGEBYSCORE) and rewrote each
  payload's `enqueued_at` itself (cjson would corrupt numbers, Pitfall 14); this script only moves
  bytes. A job is pushed only if it is still in the set, and due, when the script runs — and the
  script removes it in the same atomic step — so several promoters (ours, and Sidekiq's own
  `Scheduled::Enq`, whose pop is atomic too) never push the same job twice, and a job is never in
  neither place. Every check runs before the first write, so an error cannot leave a half move.

  KEYS[1]     the source sorted set: `retry` or `schedule`
  KEYS[2]     `queues` (set of queue names)
  KEYS[3]     `dead` (sorted set)
  KEYS[4..]   `queue:<q>` lists used by this batch, in the order of their names in ARGV
  ARGV[1]     due-by, float seconds: a member whose score is now above this (rescheduled since it
              was read) is left alone
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
    3  moved to the dead set unchanged because its queue key holds another type (LPUSH would fail)
    0  not moved: another promoter took it, or it is no longer due
  Errors (nothing written) when `dead` holds another type and a job would go there.

  Cost: a constant number of commands per batch (a ranged read of the head, ZMSCORE for members
  not in it, ZREMRANGEBYRANK or ZREM, one LPUSH per queue), not per job; ZSCORE per member not in
  the head where ZMSCORE (Redis 6.2) is missing.
]]
local src, queues, dead = KEYS[1], KEYS[2], KEYS[3]
local dueBy = tonumber(ARGV[1])
local nq = tonumber(ARGV[5])
local first = 6 + nq
local n = (#ARGV - first + 1) / 3
local CHUNK = 500

local members = {}
for j = 1, n do members[j] = ARGV[first + 3 * (j - 1)] end

-- Which members are still there and due. Usually the batch is the head of the set (the batches
-- before it are gone), so one ranged read answers for most members; ZMSCORE asks for the rest.
local head = redis.call('ZRANGEBYSCORE', src, '-inf', ARGV[1], 'LIMIT', 0, n)
local inHead = {}
for r = 1, #head do inHead[head[r]] = true end
local due = {}
local ask = {}
for j = 1, n do
  if inHead[members[j]] then due[j] = true else ask[#ask + 1] = j end
end
for c = 1, #ask, CHUNK do
  local last = math.min(#ask, c + CHUNK - 1)
  local names = {}
  for x = c, last do names[#names + 1] = members[ask[x]] end
  local r = redis.pcall('ZMSCORE', src, unpack(names))
  for x = c, last do
    local s
    if type(r) == 'table' and r.err then s = redis.call('ZSCORE', src, members[ask[x]]) else s = r[x - c + 1] end
    due[ask[x]] = (s and tonumber(s) <= dueBy) and true or false
  end
end

local usable = {}
local function queueUsable(k)
  if usable[k] == nil then
    local t = redis.call('TYPE', KEYS[3 + k]).ok
    usable[k] = (t == 'list' or t == 'none')
  end
  return usable[k]
end

local out, removed, pushes, killed = {}, {}, {}, {}
for j = 1, n do
  local i = first + 3 * (j - 1)
  local k = tonumber(ARGV[i + 1])
  local status = 0
  if due[j] then
    removed[#removed + 1] = members[j]
    if k > 0 and queueUsable(k) then
      status = 1
      local p = pushes[k]
      if not p then p = {}; pushes[k] = p end
      p[#p + 1] = ARGV[i + 2]
    elseif k > 0 then
      status = 3
      killed[#killed + 1] = ARGV[2]
      killed[#killed + 1] = members[j]
    else
      status = 2
      killed[#killed + 1] = ARGV[2]
      killed[#killed + 1] = ARGV[i + 2]
    end
  end
  out[j] = status
end

if #killed > 0 then
  local t = redis.call('TYPE', dead).ok
  if t ~= 'zset' and t ~= 'none' then return redis.error_reply('promote: ' .. dead .. ' is not a sorted set') end
end

-- When the removed members are exactly the head of the set, remove them by rank (cheaper).
local byRank = #removed > 0 and #removed <= #head
if byRank then
  local gone = {}
  for x = 1, #removed do gone[removed[x]] = true end
  for r = 1, #removed do
    if not gone[head[r]] then byRank = false; break end
  end
end
if byRank then
  redis.call('ZREMRANGEBYRANK', src, 0, #removed - 1)
else
  for c = 1, #removed, CHUNK do
    redis.call('ZREM', src, unpack(removed, c, math.min(#removed, c + CHUNK - 1)))
  end
end
for k = 1, nq do
  local p = pushes[k]
  if p then
    redis.call('SADD', queues, ARGV[5 + k])
    for c = 1, #p, CHUNK do
      redis.call('LPUSH', KEYS[3 + k], unpack(p, c, math.min(#p, c + CHUNK - 1)))
    end
  end
end
if #killed > 0 then
  for c = 1, #killed, 2 * CHUNK do
    redis.call('ZADD', dead, unpack(killed, c, math.min(#killed, c + 2 * CHUNK - 1)))
  end
  redis.call('ZREMRANGEBYSCORE', dead, '-inf', ARGV[3])
  redis.call('ZREMRANGEBYRANK', dead, 0, -tonumber(ARGV[4]))
end
return out
