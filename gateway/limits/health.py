"""Recent health of each model, shared by every gateway process.

Usage:
    health = ModelHealth(redis, "maestro:limits")
    await health.record("openai:gpt-4o", ok=True, latency_s=2.4, ttft_s=0.6, output_tokens=350)
    snap = await health.snapshot("openai:gpt-4o")
    timeout = 10 + max_tokens / snap.tokens_per_second_ewma if snap.tokens_per_second_ewma else 120
    by_model = await health.snapshots(candidates)  # the router ranks by error_rate and latency

Latency, time to first token and generation speed are exponentially weighted moving averages
(each new sample moves them by `alpha` of the difference), updated atomically in Lua so that
concurrent records from many processes are never lost. They are fed by successful calls only: a
timeout or an instant 500 says nothing about how fast the model answers. The error rate counts
calls over the last `window_seconds`, kept in a ring of `slots` time slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from ._redis import LUA_NOW_MS, Clock, as_float_or_none, clock_arg, key_space

# One hash per model: EWMA fields 'latency', 'ttft', 'tps', and per ring slot n the fields
# 'n:epoch' (which slot-length period the slot counts), 'n:ok' and 'n:err'.
_SLOT_PRELUDE = (
    LUA_NOW_MS
    + """
local slot_ms, slots = tonumber(ARGV[1]), tonumber(ARGV[2])
local function current_epoch()
  return math.floor(now_ms() / slot_ms)
end
"""
)

# KEYS: the health hash of each sample (a model may appear more than once). ARGV[1] slot ms, [2] slots,
# [3] alpha, [4] idle ttl ms, then four per sample: '1' if ok, latency s, ttft s or '', tokens per
# second or ''; last, the clock. Samples are applied in order, as if recorded one after another.
_RECORD = (
    _SLOT_PRELUDE
    + """
local alpha = tonumber(ARGV[3])
local epoch = current_epoch()
local slot = tostring(epoch % slots)

local function blend(key, field, sample)
  if sample == '' then return end
  local old = tonumber(redis.call('HGET', key, field))
  local value = tonumber(sample)
  if old then
    value = old + alpha * (value - old)
  end
  redis.call('HSET', key, field, value)
end

for i, key in ipairs(KEYS) do
  local base = 4 + 4 * (i - 1)
  if tonumber(redis.call('HGET', key, slot .. ':epoch')) ~= epoch then
    -- The slot still holds counts from a full ring ago: start it afresh for this period.
    redis.call('HSET', key, slot .. ':epoch', epoch, slot .. ':ok', 0, slot .. ':err', 0)
  end
  if ARGV[base + 1] == '1' then
    redis.call('HINCRBY', key, slot .. ':ok', 1)
    blend(key, 'latency', ARGV[base + 2])
    blend(key, 'ttft', ARGV[base + 3])
    blend(key, 'tps', ARGV[base + 4])
  else
    redis.call('HINCRBY', key, slot .. ':err', 1)
  end
  redis.call('PEXPIRE', key, ARGV[4])
end
return #KEYS
"""
)

# KEYS: health hashes. ARGV[1] slot ms, [2] slots, [3] the clock. Reply per key: ok, errors, latency,
# ttft, tps (the EWMAs as strings, or nil when never measured).
_SNAPSHOTS = (
    _SLOT_PRELUDE
    + """
local oldest = current_epoch() - slots + 1
local reply = {}
for _, key in ipairs(KEYS) do
  local ok, err = 0, 0
  for n = 0, slots - 1 do
    local counts = redis.call('HMGET', key, n .. ':epoch', n .. ':ok', n .. ':err')
    if counts[1] and tonumber(counts[1]) >= oldest then
      ok, err = ok + tonumber(counts[2]), err + tonumber(counts[3])
    end
  end
  local ewma = redis.call('HMGET', key, 'latency', 'ttft', 'tps')
  for _, value in ipairs({ok, err, ewma[1], ewma[2], ewma[3]}) do
    reply[#reply + 1] = value
  end
end
return reply
"""
)

_IDLE_TTL_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class HealthSample:
    """One finished attempt of the model whose health key is `key`."""

    key: str
    ok: bool
    latency_s: float
    ttft_s: float | None = None
    output_tokens: int = 0


@dataclass(frozen=True)
class HealthSnapshot:
    """`samples`: calls in the error-rate window (few samples, little meaning). The EWMAs are None
    until a successful call measured them."""

    samples: int
    error_rate: float
    latency_ewma_s: float | None
    ttft_ewma_s: float | None
    tokens_per_second_ewma: float | None


class ModelHealth:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        alpha: float = 0.2,
        window_seconds: float = 60,
        slots: int = 12,
        clock: Clock | None = None,
    ) -> None:
        """`clock` is for tests: it pins the time the scripts see (see `_redis.LUA_NOW_MS`)."""
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self._prefix = key_space(prefix, "health")
        self._alpha = alpha
        self._slot_ms = max(1, int(window_seconds * 1000 / slots))
        self._slots = slots
        self._clock = clock
        self._record = redis.register_script(_RECORD)
        self._snapshots = redis.register_script(_SNAPSHOTS)

    async def record(
        self, key: str, *, ok: bool, latency_s: float, ttft_s: float | None = None, output_tokens: int = 0
    ) -> None:
        await self.record_all([HealthSample(key, ok, latency_s, ttft_s, output_tokens)])

    async def record_all(self, samples: Sequence[HealthSample]) -> None:
        """Several samples (of one or many models) in one round trip, applied in order."""
        if not samples:
            return
        args: list[str | int | float] = [self._slot_ms, self._slots, self._alpha, _IDLE_TTL_MS]
        for sample in samples:
            tps = _tokens_per_second(sample.latency_s, sample.ttft_s, sample.output_tokens)
            args += ["1" if sample.ok else "0", repr(float(sample.latency_s)), _optional(sample.ttft_s)]
            args.append(_optional(tps if sample.ok else None))
        args.append(clock_arg(self._clock))
        await self._record(keys=[self._key(sample.key) for sample in samples], args=args)

    async def snapshot(self, key: str) -> HealthSnapshot:
        return (await self.snapshots([key]))[key]

    async def snapshots(self, keys: Sequence[str]) -> dict[str, HealthSnapshot]:
        """Every key's snapshot in one round trip."""
        if not keys:
            return {}
        hashes = [self._key(key) for key in keys]
        reply = await self._snapshots(keys=hashes, args=[self._slot_ms, self._slots, clock_arg(self._clock)])
        return {key: _snapshot(reply[5 * i : 5 * i + 5]) for i, key in enumerate(keys)}

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"


def _tokens_per_second(latency_s: float, ttft_s: float | None, output_tokens: int) -> float | None:
    # Generation speed is measured after the first token, when the time to first token is known:
    # queueing and prompt processing are not part of how fast the model writes.
    generating_s = latency_s - ttft_s if ttft_s is not None else latency_s
    if output_tokens <= 0 or generating_s <= 0:
        return None
    return output_tokens / generating_s


def _optional(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _snapshot(values: list) -> HealthSnapshot:
    ok, errors = int(values[0]), int(values[1])
    samples = ok + errors
    return HealthSnapshot(
        samples=samples,
        error_rate=errors / samples if samples else 0.0,
        latency_ewma_s=as_float_or_none(values[2]),
        ttft_ewma_s=as_float_or_none(values[3]),
        tokens_per_second_ewma=as_float_or_none(values[4]),
    )
