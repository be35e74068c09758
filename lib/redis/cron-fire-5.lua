--[[
  cron-fire: enqueue one sidekiq-cron entry's job — for a fire time at most once, whoever else
  polls (our other schedulers, Ruby's sidekiq-cron poller) — and do sidekiq-cron's bookkeeping, in
  one step. sidekiq-cron claims a fire time with `ZADD <entry>:enqueued <score> <iso time>` and
  enqueues only when that added the member; we claim with the same member (ZADD NX), so exactly one
  of all pollers adds it. Unlike Ruby's poller, the claim and the push cannot be separated by a
  crash.

  KEYS[1]  the entry's hash            cron_job:[<ns>:]<name>
  KEYS[2]  its fire times enqueued     cron_job:[<ns>:]<name>:enqueued (zset)
  KEYS[3]  its last jids               cron_job:[<ns>:]<name>:jid_history (list)
  KEYS[4]  `queues` (set)
  KEYS[5]  `queue:<q>` (list)
  ARGV[1]  'fire' (a fire time: guarded) | 'run' (now, by hand: unguarded, as sidekiq-cron's `enqueue!`)
  ARGV[2]  fire: the fire time's score, float seconds ('1709978700.0')
  ARGV[3]  fire: the fire time's member, ISO-8601 UTC ('2024-03-09T10:05:00Z')
  ARGV[4]  fire: drop members scored below this (now − 24 h, sidekiq-cron's REMEMBER_THRESHOLD)
  ARGV[5]  fire: the `cron` field the fire time was computed from (unchanged since, or no fire)
  ARGV[6]  `last_enqueue_time` to write ('2024-03-09 10:05:03 +0000')
  ARGV[7]  the jid history entry ('{"jid":"…","enqueued":"…"}')
  ARGV[8]  jid history length kept (10)
  ARGV[9]  the queue's name (member of `queues`)
  ARGV[10] the job payload

  Returns 1 when the job was pushed; 0 when this fire time was enqueued already (by anyone);
  -1 the entry is gone; -2 it is disabled (fire); -3 its `cron` changed (fire);
  -4 `queue:<q>` holds something other than a list (nothing written).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local qtype = redis.call('TYPE', KEYS[5]).ok
if qtype ~= 'none' and qtype ~= 'list' then return -4 end
if ARGV[1] == 'fire' then
  local status = redis.call('HGET', KEYS[1], 'status')
  if status and status ~= '' and status ~= 'enabled' then return -2 end
  if redis.call('HGET', KEYS[1], 'cron') ~= ARGV[5] then return -3 end
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[3]) == 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, '(' .. ARGV[4])
end
redis.call('SADD', KEYS[4], ARGV[9])
redis.call('LPUSH', KEYS[5], ARGV[10])
redis.call('HSET', KEYS[1], 'last_enqueue_time', ARGV[6])
redis.call('LPUSH', KEYS[3], ARGV[7])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[8]) - 1)
return 1
