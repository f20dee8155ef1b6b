"""Circuit breakers shared by every gateway process, one per key (a model or a provider).

Usage:
    breaker = CircuitBreaker(redis, "maestro:limits", failure_threshold=5, cooldown_seconds=20)
    if not await breaker.allow("openai:gpt-4o"):
        ...route elsewhere...
    try:
        result = await call_model()
    except ProviderError:
        await breaker.record_failure("openai:gpt-4o")
    else:
        await breaker.record_success("openai:gpt-4o")
    usable = await breaker.states(candidate_models)  # {key: CircuitState} for the router

closed: calls pass; failures are counted over a sliding window, and `failure_threshold` of them
within `window_seconds` open the circuit. open: calls are refused for `cooldown_seconds`.
half-open: the cooldown is over and exactly one caller, across all processes, is let through as a
probe; its success closes the circuit, its failure opens it for another cooldown. A probe that
never reports back (its process died) is replaced after `probe_ttl_seconds`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum

from redis.asyncio import Redis

from ._redis import LUA_NOW_MS, Clock, as_text, clock_arg, key_space

# Per key: a hash {state, open_until, probe_until} (times in server ms; no hash = closed) and a
# sorted set of failure times. Both expire when idle, which leaves the circuit closed.

# KEYS[1] state hash. ARGV[1] probe ttl ms, [2] idle ttl ms, [3] the clock. Reply 1 (allowed) or 0.
_ALLOW = (
    LUA_NOW_MS
    + """
local state = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probe_until')
if state[1] ~= 'open' and state[1] ~= 'half_open' then
  return 1
end
local now = now_ms()
if state[1] == 'open' and now < tonumber(state[2]) then
  return 0
end
if state[1] == 'half_open' and now < tonumber(state[3]) then
  return 0  -- another caller's probe is in flight
end
-- The cooldown is over, or the last probe never reported back: this caller becomes the probe.
-- Being one script, no other caller in any process can be admitted between the check and this.
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

# KEYS[1] state hash, [2] failure times. ARGV[1] threshold, [2] window ms, [3] cooldown ms,
# [4] idle ttl ms, [5] unique member, [6] the clock. Reply: the state afterwards.
_RECORD_FAILURE = (
    LUA_NOW_MS
    + """
local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'open' then
  -- A straggler started before the circuit opened: it must not stretch the cooldown.
  return 'open'
end
if state ~= 'half_open' then
  -- Sliding window: forget failures older than window ms, whatever bucket boundaries would say.
  redis.call('ZADD', KEYS[2], now, now .. ':' .. ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[1]) then
    return 'closed'
  end
end
-- Threshold reached, or the half-open probe failed: open for a (new) cooldown.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[3]))
redis.call('HDEL', KEYS[1], 'probe_until')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'open'
"""
)

# KEYS[1] state hash, [2] failure times. Reply: the state afterwards.
# Only a half-open circuit closes: a success while open comes from a call that started before the
# failures piled up and says nothing about the provider now. A success while closed leaves the
# failure window alone, so a provider failing every other call still trips the breaker.
_RECORD_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'half_open' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 'closed'
end
return state or 'closed'
"""

# KEYS: state hashes. ARGV[1] the clock. Reply: each key's state; an open circuit whose cooldown is
# over reads half-open, since the next `allow` would admit a probe.
_STATES = (
    LUA_NOW_MS
    + """
local now = now_ms()
local reply = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'state', 'open_until')
  if state[1] == 'open' and now >= tonumber(state[2]) then
    reply[i] = 'half_open'
  else
    reply[i] = state[1] or 'closed'
  end
end
return reply
"""
)

_IDLE_TTL_MS = 24 * 3600 * 1000


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        failure_threshold: int = 5,
        window_seconds: float = 30,
        cooldown_seconds: float = 20,
        probe_ttl_seconds: float = 60,
        *,
        clock: Clock | None = None,
    ) -> None:
        """`probe_ttl_seconds` should exceed the longest call: a probe still running when it ends
        gets company. `clock` is for tests: it pins the time the scripts see (`_redis.LUA_NOW_MS`)."""
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._prefix = key_space(prefix, "circuit")
        self._threshold = failure_threshold
        self._window_ms = _ms(window_seconds)
        self._cooldown_ms = _ms(cooldown_seconds)
        self._probe_ttl_ms = _ms(probe_ttl_seconds)
        self._clock = clock
        self._allow = redis.register_script(_ALLOW)
        self._record_failure = redis.register_script(_RECORD_FAILURE)
        self._record_success = redis.register_script(_RECORD_SUCCESS)
        self._states = redis.register_script(_STATES)

    async def allow(self, key: str) -> bool:
        """May a call go to `key` now? True when closed, and for the single half-open probe."""
        args: list[int | str] = [self._probe_ttl_ms, _IDLE_TTL_MS, clock_arg(self._clock)]
        reply = await self._allow(keys=[self._state_key(key)], args=args)
        return bool(int(reply))

    async def record_failure(self, key: str) -> CircuitState:
        args: list[int | str] = [
            self._threshold,
            self._window_ms,
            self._cooldown_ms,
            _IDLE_TTL_MS,
            uuid.uuid4().hex,
        ]
        args.append(clock_arg(self._clock))
        reply = await self._record_failure(keys=[self._state_key(key), self._failures_key(key)], args=args)
        return CircuitState(as_text(reply))

    async def record_success(self, key: str) -> CircuitState:
        reply = await self._record_success(keys=[self._state_key(key), self._failures_key(key)])
        return CircuitState(as_text(reply))

    async def state(self, key: str) -> CircuitState:
        return (await self.states([key]))[key]

    async def states(self, keys: Sequence[str]) -> dict[str, CircuitState]:
        """Every key's state in one round trip, for the router."""
        if not keys:
            return {}
        hashes = [self._state_key(key) for key in keys]
        reply = await self._states(keys=hashes, args=[clock_arg(self._clock)])
        return {key: CircuitState(as_text(state)) for key, state in zip(keys, reply, strict=True)}

    def _state_key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def _failures_key(self, key: str) -> str:
        return f"{self._prefix}:{key}:failures"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
