"""Small helpers shared by the limits primitives: reply decoding and the Lua clock."""

from __future__ import annotations

# Every script reads the Redis server's clock, never the calling process's: gateway replicas whose
# clocks disagree by seconds must still agree on when a reservation, a cooldown or a window ends.
LUA_NOW_MS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""


def as_text(value: bytes | str) -> str:
    """Replies are bytes unless the caller's client was built with decode_responses=True."""
    return value.decode() if isinstance(value, bytes) else value


def as_float_or_none(value: bytes | str | None) -> float | None:
    return None if value is None else float(as_text(value))
