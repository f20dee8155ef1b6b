"""Token buckets shared by every gateway process (tokens per minute, requests per minute, ...).

Usage:
    limiter = TokenBucketLimiter(redis, "maestro:limits")
    tpm = Bucket.per_minute("tenant:42:gpt-4o:tpm", 90_000, label="GPT-4o tokens per minute")
    rpm = Bucket.per_minute("tenant:42:gpt-4o:rpm", 500, label="GPT-4o requests per minute")
    await limiter.acquire([tpm, rpm], [estimated_tokens, 1])   # raises RateLimited / RequestExceedsCapacity
    ...call the model...
    await limiter.adjust(tpm, actual_tokens - estimated_tokens)  # charge the difference, or refund it

A bucket lives in Redis, not in the process, so N replicas together get the limit, not N times it.
Tokens are taken before the call (from an estimate) so concurrent calls see each other at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from ._redis import LUA_NOW_MS, Clock, as_text, clock_arg, key_space
from .errors import RateLimited, RequestExceedsCapacity
from .round_trip import ScriptCall

# A bucket's state is {tokens, at}: its level at server time `at` (seconds, float). The level at
# any later time follows from the refill rate, so nothing needs to tick in the background.
_PRELUDE = (
    LUA_NOW_MS
    + """
local function now_seconds()
  local pinned = pinned_ms()
  if pinned then
    return pinned / 1000
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function level(key, capacity, rate, now)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  if not state[1] then
    return capacity
  end
  local elapsed = math.max(0, now - tonumber(state[2]))
  return math.min(capacity, tonumber(state[1]) + elapsed * rate)
end

-- Once it would have refilled, a bucket is the same as a missing one: let the key expire then.
local function store(key, tokens, capacity, rate, now)
  redis.call('HSET', key, 'tokens', tokens, 'at', now)
  redis.call('PEXPIRE', key, math.ceil((capacity - tokens) / rate * 1000) + 1000)
end
"""
)

# KEYS: one per bucket. ARGV: capacity, refill per second, cost for each bucket in turn; the clock.
# Replies {'ok'} or {'limited', bucket index (1-based), seconds to wait}. Nothing is taken from
# any bucket unless all of them have enough: a refused call must not eat another bucket's tokens.
_ACQUIRE = (
    _PRELUDE
    + """
local now = now_seconds()
local levels = {}
local worst, worst_wait = 0, 0
for i = 1, #KEYS do
  local capacity, rate, cost = tonumber(ARGV[3*i - 2]), tonumber(ARGV[3*i - 1]), tonumber(ARGV[3*i])
  levels[i] = level(KEYS[i], capacity, rate, now)
  -- The caller must wait for the slowest bucket to refill its deficit (a debt included).
  local wait = (cost - levels[i]) / rate
  if levels[i] < cost and wait > worst_wait then
    worst, worst_wait = i, wait
  end
end
if worst > 0 then
  return {'limited', worst, tostring(worst_wait)}
end
for i = 1, #KEYS do
  store(KEYS[i], levels[i] - tonumber(ARGV[3*i]), tonumber(ARGV[3*i - 2]), tonumber(ARGV[3*i - 1]), now)
end
return {'ok'}
"""
)

# KEYS: one per bucket. ARGV: capacity and refill per second for each bucket in turn, then the delta
# (positive: take more; negative: give back), then the clock. Replies each bucket's level afterwards.
# The level may go below zero: a call that used more than estimated leaves a debt that later
# callers wait out, so the limit holds over time. A refund cannot lift it above capacity.
_ADJUST = (
    _PRELUDE
    + """
local delta = tonumber(ARGV[2 * #KEYS + 1])
local now = now_seconds()
local reply = {}
for i = 1, #KEYS do
  local capacity, rate = tonumber(ARGV[2*i - 1]), tonumber(ARGV[2*i])
  local tokens = math.min(capacity, level(KEYS[i], capacity, rate, now) - delta)
  store(KEYS[i], tokens, capacity, rate, now)
  reply[i] = tostring(tokens)
end
return reply
"""
)


@dataclass(frozen=True)
class Bucket:
    key: str
    capacity: int
    refill_per_second: float
    label: str

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.refill_per_second <= 0:
            raise ValueError(f"Bucket {self.key!r}: capacity and refill_per_second must be positive")

    @classmethod
    def per_minute(cls, key: str, limit: int, *, label: str) -> Bucket:
        """A limit of `limit` per minute, allowing a burst of up to a minute's worth."""
        return cls(key=key, capacity=limit, refill_per_second=limit / 60, label=label)


class TokenBucketLimiter:
    def __init__(self, redis: Redis, prefix: str, *, clock: Clock | None = None) -> None:
        """`clock` is for tests: it pins the time the scripts see (see `_redis.LUA_NOW_MS`)."""
        self._prefix = key_space(prefix, "rate")
        self._clock = clock
        self._acquire = redis.register_script(_ACQUIRE)
        self._adjust = redis.register_script(_ADJUST)

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[int] | Mapping[str, int]) -> None:
        """Take `costs` (per bucket, in order, or by bucket key) from every bucket, or from none.

        Raises `RequestExceedsCapacity` if a cost is above a bucket's capacity (it can never pass),
        and `RateLimited` with the wait after which the call would pass if nothing else came first."""
        call = self.acquire_call(buckets, costs)
        if call is None:  # nothing limits this call: no round trip
            return
        self.acquire_outcome(buckets, await call.run())

    def acquire_call(
        self, buckets: Sequence[Bucket], costs: Sequence[int] | Mapping[str, int]
    ) -> ScriptCall | None:
        """`acquire`'s script, to run with other parts in one round trip (`round_trip.run_together`);
        None when no bucket limits the call. Its reply goes to `acquire_outcome`. Raises
        `RequestExceedsCapacity` at once: no round trip could let that call pass."""
        if not buckets:
            return None
        amounts = _costs_per_bucket(buckets, costs)
        for bucket, cost in zip(buckets, amounts, strict=True):
            if cost > bucket.capacity:
                raise RequestExceedsCapacity(
                    bucket_label=bucket.label, bucket_key=bucket.key, requested=cost, capacity=bucket.capacity
                )
        args: list[float | str] = []
        for bucket, cost in zip(buckets, amounts, strict=True):
            args += [bucket.capacity, bucket.refill_per_second, cost]
        args.append(clock_arg(self._clock))
        return ScriptCall(self._acquire, [self._key(b) for b in buckets], args)

    def acquire_outcome(self, buckets: Sequence[Bucket], reply: list) -> None:
        """Raises `RateLimited` if the script refused: then it took nothing from any bucket."""
        if as_text(reply[0]) == "limited":
            bucket = buckets[int(reply[1]) - 1]
            raise RateLimited(
                bucket_label=bucket.label, bucket_key=bucket.key, retry_after_seconds=float(as_text(reply[2]))
            )

    async def adjust(self, bucket: Bucket, delta: int) -> float:
        """After the call: take `delta` more tokens (actual - estimate), or give back if negative.
        Returns the bucket's level afterwards (negative while in debt)."""
        return (await self.adjust_all([bucket], delta))[0]

    async def adjust_all(self, buckets: Sequence[Bucket], delta: int) -> list[float]:
        """`adjust` on each of `buckets` by the same `delta`, in one round trip."""
        call = self.adjust_call(buckets, delta)
        return [] if call is None else self.adjust_outcome(await call.run())

    def adjust_call(self, buckets: Sequence[Bucket], delta: int) -> ScriptCall | None:
        """`adjust_all`'s script, to run with other parts (None without buckets); its reply goes to
        `adjust_outcome`."""
        if not buckets:
            return None
        args: list[float | str] = []
        for bucket in buckets:
            args += [bucket.capacity, bucket.refill_per_second]
        args += [delta, clock_arg(self._clock)]
        return ScriptCall(self._adjust, [self._key(b) for b in buckets], args)

    @staticmethod
    def adjust_outcome(reply: list) -> list[float]:
        """Each bucket's level after the adjustment (negative while in debt)."""
        return [float(as_text(level)) for level in reply]

    def _key(self, bucket: Bucket) -> str:
        return f"{self._prefix}:{bucket.key}"


def _costs_per_bucket(buckets: Sequence[Bucket], costs: Sequence[int] | Mapping[str, int]) -> list[int]:
    amounts = [costs[b.key] for b in buckets] if isinstance(costs, Mapping) else list(costs)
    if len(amounts) != len(buckets):
        raise ValueError("acquire needs one cost per bucket")
    if any(amount < 0 for amount in amounts):
        raise ValueError("costs must not be negative")
    return amounts
