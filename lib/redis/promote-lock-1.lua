--[[
  promote-lock: the scheduler's single-runner lock, renewed or released only by its holder.
  (Taking it is a plain `SET key token NX PX ttl`.)

  KEYS[1]  the lock key (`sidekiq-lambda:scheduler-lock`)
  ARGV[1]  'renew' | 'release'
  ARGV[2]  the holder's token
  ARGV[3]  renew: the new TTL in ms

  Returns 1 when this token holds the lock (renewed, or released), 0 when it does not.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
