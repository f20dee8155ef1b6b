"""Small helpers shared by the limits primitives: reply decoding and the Lua clock."""

from __future__ import annotations

from collections.abc import Callable

# Every script reads the Redis server's clock, never the calling process's: gateway replicas whose
# clocks disagree by seconds must still agree on when a reservation, a cooldown or a window ends.
# A script that reads the clock takes one more argument, last: '' (always, in production) or a
# time in ms that tests pin with a primitive's `clock=`, so no stall of the test machine moves it.
LUA_NOW_MS = """
local function pinned_ms()
  local pinned = ARGV[#ARGV]
  if pinned == nil or pinned == '' then
    return nil
  end
  return tonumber(pinned)
end

local function now_ms()
  local pinned = pinned_ms()
  if pinned then
    return pinned
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Tests only: the time in ms the scripts use instead of the Redis server's clock.
Clock = Callable[[], int]


def clock_arg(clock: Clock | None) -> str:
    """The last argument of a script that reads the clock: '' lets it ask the Redis server."""
    return "" if clock is None else str(int(clock()))


def key_space(prefix: str, family: str) -> str:
    """Where one primitive keeps its keys: `{<prefix>:<family>}`, a Redis Cluster hash tag. Cluster
    runs a script only when all its keys hash to one slot, and a key with a tag hashes by the tag
    alone, so every key of a family shares a slot whatever follows it (a budget's windows and its
    reservation record; a tenant's and an API key's buckets). The families spread over the cluster.
    A prefix that carries its own tag ("{maestro}") is kept as it is: all of Maestro's keys then
    share that one slot."""
    if hash_tag(prefix) is not None:
        return f"{prefix}:{family}"
    return f"{{{prefix}:{family}}}"


def hash_tag(key: str) -> str | None:
    """The part of `key` Redis Cluster hashes, when it is not the whole key: between the first `{`
    and the first `}` after it, if that is not empty."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if end <= start + 1:
        return None
    return key[start + 1 : end]


def as_text(value: bytes | str) -> str:
    """Replies are bytes unless the caller's client was built with decode_responses=True."""
    return value.decode() if isinstance(value, bytes) else value


def as_float_or_none(value: bytes | str | None) -> float | None:
    return None if value is None else float(as_text(value))
