--[[
  lease: a class's concurrency cap held across every poller on one Redis. A poller holds one lease
  per invocation it runs; the total held by all pollers never exceeds the cap. Pollers that want
  more than is free wait in a line and are served in turn, one lease at a time (round robin), so
  one busy poller cannot starve another.

  Per class, two keys:
    the lease hash   h|<identity> → leases held,  w|<identity> → leases wanted beyond those held
    the line         a list of the identities that want leases, each at most once, served from
                     the left (w|x > 0 exactly when x is in the line)

  KEYS[2c-1], KEYS[2c]   for class c: its lease hash, its line
  ARGV[1]                this poller's identity
  ARGV[2]                the channel to announce on (PUBLISH), messages
                         `wait\n<class>\n<caller>\n<pollers holding or wanting leases>` and
                         `grant\n<class>\n<grantee>`
  ARGV[5c-2 .. 5c+2]     for class c: its name, its cap, `known`, `keep`, `desired`

    known    the leases this poller knows it holds (as the last call said)
    keep     the leases it keeps: all it knows of but those it gives back (freed while others
             wait), and at least its running invocations
    desired  the leases it would like to hold now (running, plus what its waiting jobs need)
  While others wait in the line, the poller gives back `known` − `keep` leases, so a freed lease
  goes to the line and not back to its holder — but not leases granted to it since (by other
  pollers' calls), which it has not had the chance to use yet. It gives back
  what it holds beyond `desired`, and never goes below `keep`, so a call repeated after a lost
  reply cannot take a lease from under a running invocation. Then the line is served in order
  while the class has room, this poller included.

  Announcements are best effort (PUBLISH may be refused, say by an ACL user without channels; a
  refusal must not abort the script after its writes): pollers also ask every second.
  Announces `wait` whenever this poller is left waiting in the line (holders that keep idle leases
  give them back; a waiter asks again every second, so a lost announcement is repeated), and
  `grant` to each other poller a lease went to (it learns how many by calling again).

  Returns, per class: the leases this poller holds, how many others wait in the line, and how many
  pollers hold or want leases of the class (its fair share is the cap divided among them).
]]
local me, channel = ARGV[1], ARGV[2]
local nc = #KEYS / 2
local out = {}
for c = 1, nc do
  local hash, line = KEYS[2 * c - 1], KEYS[2 * c]
  local a = 5 * c - 2
  local cls, cap, known, keep, desired = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local hf, wf = 'h|' .. me, 'w|' .. me
  local held = tonumber(redis.call('HGET', hash, hf) or '0')
  local wanted = tonumber(redis.call('HGET', hash, wf) or '0')
  local others = redis.call('LLEN', line) - (wanted > 0 and 1 or 0)
  if others > 0 then held = math.max(keep, held - math.max(0, known - keep)) end
  if held > desired then held = math.max(keep, desired) end
  if held > 0 then redis.call('HSET', hash, hf, held) else redis.call('HDEL', hash, hf) end
  local want = desired - held
  if want > 0 then
    redis.call('HSET', hash, wf, want)
    if wanted == 0 then redis.call('RPUSH', line, me) end
  elseif wanted > 0 then
    redis.call('HDEL', hash, wf)
    redis.call('LREM', line, 0, me)
  end
  local total = 0
  local all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'h|' then total = total + tonumber(all[i + 1]) end
  end
  local granted = {}
  while total < cap do
    local who = redis.call('LPOP', line)
    if not who then break end
    local w = tonumber(redis.call('HGET', hash, 'w|' .. who) or '0')
    if w > 0 then
      redis.call('HINCRBY', hash, 'h|' .. who, 1)
      total = total + 1
      if w > 1 then
        redis.call('HSET', hash, 'w|' .. who, w - 1)
        redis.call('RPUSH', line, who)
      else
        redis.call('HDEL', hash, 'w|' .. who)
      end
      if who == me then held = held + 1 else granted[who] = true end
    end
  end
  local mine = tonumber(redis.call('HGET', hash, wf) or '0') > 0 and 1 or 0
  local pollers, seen = 0, {}
  all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    local id = string.sub(all[i], 3)
    if tonumber(all[i + 1]) > 0 and not seen[id] then
      seen[id] = true
      pollers = pollers + 1
    end
  end
  for who in pairs(granted) do redis.pcall('PUBLISH', channel, 'grant\n' .. cls .. '\n' .. who) end
  if mine == 1 then redis.pcall('PUBLISH', channel, 'wait\n' .. cls .. '\n' .. me .. '\n' .. pollers) end
  out[3 * c - 2] = held
  out[3 * c - 1] = redis.call('LLEN', line) - mine
  out[3 * c] = pollers
end
return out
