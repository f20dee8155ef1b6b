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


def as_text(value: bytes | str) -> str:
    """Replies are bytes unless the caller's client was built with decode_responses=True."""
    return value.decode() if isinstance(value, bytes) else value


def as_float_or_none(value: bytes | str | None) -> float | None:
    return None if value is None else float(as_text(value))
