"""Lua scripts of the budget ledger. Each runs atomically in Redis, so no interleaving of gateway
processes can let two calls spend the same remaining budget.

Per window, three keys (see `BudgetLedger._window_keys`), always passed in this order:
  spent     string: micros spent in the window (settled calls); rebuilt from PostgreSQL when lost
  holds     sorted set: reservation id -> expiry (server ms), so holds of dead processes can be found
  amounts   hash: reservation id -> micros held
A reservation record (hash: state, granted, windows JSON) remembers which windows a reservation
touched, so that settle and release need only its id.
"""

from __future__ import annotations

from gateway.limits._redis import LUA_NOW_MS

_PRELUDE = (
    LUA_NOW_MS
    + """
-- Window i's keys are KEYS[first + 3(i-1)] .. KEYS[first + 3(i-1) + 2]: spent, holds, amounts.
local function window_keys(first, i)
  local base = first + 3 * (i - 1)
  return KEYS[base], KEYS[base + 1], KEYS[base + 2]
end

-- A process that died between reserve and settle must not hold budget forever: drop holds whose
-- expiry has passed, then return what the live holds add up to.
local function live_reserved(holds, amounts, now)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  for _, id in ipairs(expired) do
    redis.call('HDEL', amounts, id)
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
  end
  local total = 0
  for _, amount in ipairs(redis.call('HVALS', amounts)) do
    total = total + tonumber(amount)
  end
  return total
end

-- A missing spent counter means Redis lost it (restart, eviction, first use of the window).
-- Reading it as 0 would hand the whole budget out again, so report the windows (1-based) and let
-- the caller rebuild them from the database before anything else happens.
local function missing_counters(first, count)
  local missing = {}
  for i = 1, count do
    local spent = window_keys(first, i)
    if redis.call('EXISTS', spent) == 0 then
      missing[#missing + 1] = i
    end
  end
  return missing
end
"""
)

# KEYS[1] reservation record, then three keys per window.
# ARGV[1] reservation id, [2] wanted, [3] minimum, [4] hold ttl ms, [5] record ttl ms, [6] windows JSON,
#   then per window: limit micros, key expiry (unix seconds).
# Replies: {'ok', granted} | {'missing', i...} | {'exceeded', i, spent, reserved} | {'duplicate'}
RESERVE = (
    _PRELUDE
    + """
local id, wanted, minimum = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local count = (#KEYS - 1) / 3

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'duplicate'}
end
local missing = missing_counters(2, count)
if #missing > 0 then
  return {'missing', unpack(missing)}
end

-- The grant is what the tightest window still has room for, capped at what the call wants.
local now = now_ms()
local tightest, tightest_available, tightest_spent, tightest_reserved
for i = 1, count do
  local spent_key, holds, amounts = window_keys(2, i)
  local spent = tonumber(redis.call('GET', spent_key))
  local reserved = live_reserved(holds, amounts, now)
  local available = tonumber(ARGV[5 + 2 * i]) - spent - reserved
  if tightest == nil or available < tightest_available then
    tightest, tightest_available, tightest_spent, tightest_reserved = i, available, spent, reserved
  end
end
local granted = math.min(wanted, tightest_available)
if granted < minimum then
  return {'exceeded', tightest, tightest_spent, tightest_reserved}
end

for i = 1, count do
  local _, holds, amounts = window_keys(2, i)
  local expire_at = ARGV[6 + 2 * i]
  redis.call('ZADD', holds, now + tonumber(ARGV[4]), id)
  redis.call('HSET', amounts, id, granted)
  redis.call('EXPIREAT', holds, expire_at)
  redis.call('EXPIREAT', amounts, expire_at)
end
redis.call('HSET', KEYS[1], 'state', 'reserved', 'granted', granted, 'windows', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok', granted}
"""
)

# KEYS[1] reservation record, then three keys per window. ARGV[1] reservation id, [2] actual micros,
# [3] how long the settled record stays (ms: a repeated settle within it reports the figures).
# Replies: {'ok', before, after, reserved, ...per window} | {'missing', i...} | {'unknown'}
SETTLE = (
    _PRELUDE
    + """
local id, actual = ARGV[1], tonumber(ARGV[2])
local count = (#KEYS - 1) / 3
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'unknown'}
end
local missing = missing_counters(2, count)
if #missing > 0 then
  return {'missing', unpack(missing)}
end

-- Only the first settle moves money; later ones (retries) just report the figures. The spend is
-- recorded even when the hold already expired or actual exceeds the grant: the money is gone.
local first_settle = state == 'reserved'
local now = now_ms()
local reply = {'ok'}
for i = 1, count do
  local spent_key, holds, amounts = window_keys(2, i)
  local before = tonumber(redis.call('GET', spent_key))
  local after = before
  if first_settle then
    redis.call('ZREM', holds, id)
    redis.call('HDEL', amounts, id)
    after = redis.call('INCRBY', spent_key, actual)
  end
  reply[#reply + 1] = before
  reply[#reply + 1] = after
  reply[#reply + 1] = live_reserved(holds, amounts, now)
end
if first_settle then
  redis.call('HSET', KEYS[1], 'state', 'settled', 'actual', actual)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return reply
"""
)

# KEYS[1] reservation record, then three keys per window. ARGV[1] reservation id, [2] how long the
# released record stays (ms).
# Reply: the state the reservation was in ('reserved' when this call released it), or 'unknown'.
RELEASE = (
    _PRELUDE
    + """
local id = ARGV[1]
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'reserved' then
  return state or 'unknown'
end
for i = 1, (#KEYS - 1) / 3 do
  local _, holds, amounts = window_keys(2, i)
  redis.call('ZREM', holds, id)
  redis.call('HDEL', amounts, id)
end
redis.call('HSET', KEYS[1], 'state', 'released')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return state
"""
)

# Three keys per window. Replies: {'ok', spent, reserved, ...per window} | {'missing', i...}
USAGE = (
    _PRELUDE
    + """
local count = #KEYS / 3
local missing = missing_counters(1, count)
if #missing > 0 then
  return {'missing', unpack(missing)}
end
local now = now_ms()
local reply = {'ok'}
for i = 1, count do
  local spent_key, holds, amounts = window_keys(1, i)
  reply[#reply + 1] = tonumber(redis.call('GET', spent_key))
  reply[#reply + 1] = live_reserved(holds, amounts, now)
end
return reply
"""
)
