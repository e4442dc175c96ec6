-- Reserve budget against every applicable cap, all or nothing per reservation, many reservations in
-- order in one call (apps/governance/services/budget.py, budget_reserve_many).
--
-- KEYS[1]            the workspace's epoch marker; when it is missing the counters are not loaded
--                    (Redis was flushed or restarted): nothing is reserved and {0} is returned, so the
--                    caller rebuilds them from the PostgreSQL ledger and tries again.
-- KEYS[2 + 4i + j]   reservation i's counters, j = 0..3: campaign day, campaign month, platform day,
--                    platform month.
-- ARGV[1]            number of reservations; ARGV[2], ARGV[3]: TTL (s) of day and month counters
-- ARGV[4 + 5i]       reservation i's amount (micros); ARGV[5 + 5i + j] its cap for counter j
--                    (micros, -1: no cap).
--
-- Returns {1, epoch, refused_0, used_0, refused_1, used_1, ...}: refused_i is 0 when reservation i
-- was granted (every counter incremented), else the 1-based index of the first cap it would exceed,
-- with used_i that counter's value. Amounts are integers far below 2^53, exact in Lua numbers.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  return {0}
end
local n = tonumber(ARGV[1])
local ttl = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[2]), tonumber(ARGV[3])}
local out = {1, epoch}
local touched = {}
for i = 0, n - 1 do
  local amount = tonumber(ARGV[4 + 5 * i])
  local refused, used = 0, 0
  for j = 1, 4 do
    local cap = tonumber(ARGV[4 + 5 * i + j])
    if cap >= 0 then
      local current = tonumber(redis.call('GET', KEYS[1 + 4 * i + j]) or '0')
      if current + amount > cap then
        refused, used = j, current
        break
      end
    end
  end
  if refused == 0 then
    for j = 1, 4 do
      local key = KEYS[1 + 4 * i + j]
      redis.call('INCRBY', key, amount)
      if not touched[key] then
        touched[key] = true
        redis.call('EXPIRE', key, ttl[j])
      end
    end
  end
  out[#out + 1] = refused
  out[#out + 1] = used
end
return out
