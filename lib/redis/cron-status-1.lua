--[[
  cron-status: enable or disable an existing sidekiq-cron entry, as its `enable!` / `disable!` do,
  without creating a hash for an entry that is not there (or was just deleted).

  KEYS[1]  the entry's hash   cron_job:[<ns>:]<name>
  ARGV[1]  'enabled' | 'disabled'

  Returns 1 when the entry exists (status written), 0 when it does not.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
