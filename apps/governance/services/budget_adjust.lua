-- Apply ledger changes to the budget counters, only under the epoch they were observed in
-- (apps/governance/services/budget.py, _adjust).
--
-- KEYS[1]          the workspace's epoch marker; KEYS[2..] counters
-- ARGV[1]          the epoch the caller read while it held the budget lock
-- ARGV[2i], ARGV[2i+1]   counter KEYS[i+1]'s delta (micros, may be negative) and TTL (s)
--
-- When the epoch changed (a rebuild since) or is gone (a flush), nothing is applied: the rebuild
-- counted, or will count, the ledger as committed. A decrease is applied only to a counter that
-- exists (an expired period's counter is not recreated negative).
local epoch = redis.call('GET', KEYS[1])
if (not epoch) or epoch ~= ARGV[1] then
  return 0
end
for i = 2, #KEYS do
  local delta = tonumber(ARGV[2 * (i - 1)])
  local ttl = tonumber(ARGV[2 * (i - 1) + 1])
  if delta > 0 then
    redis.call('INCRBY', KEYS[i], delta)
    redis.call('EXPIRE', KEYS[i], ttl)
  elseif delta < 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], delta)
  end
end
return 1
