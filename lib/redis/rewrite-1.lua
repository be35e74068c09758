--[[
  rewrite: replace members of a sorted set (`schedule`, `retry`) by rewritten payloads under the
  same score — a job routed to the other side is promoted straight there. Each member atomically
  and at most once: a member the scheduler (ours or Sidekiq's) promoted meanwhile is not found and
  is left alone, so a job is never promoted twice nor lost. The caller rewrote each payload itself
  (byte-exact; never cjson).

  KEYS[1]  the sorted set
  ARGV     pairs: member (exact bytes), new member

  Returns one status per pair, in order: 1 rewritten, 0 not found.
]]
local out = {}
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[1], score, ARGV[i + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
