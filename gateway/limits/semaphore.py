"""Concurrency slots per model, shared by every gateway process: a fair queue and leases that expire.

A local llama.cpp server has N slots (`--parallel N`): a call beyond them waits inside the server,
where the gateway's first-token timeout runs out. So the gateway takes a slot before it sends, and
waits for one in line (first come, first served) without any provider timeout running:

    slots = SlotSemaphore(redis, "maestro")
    slot = await slots.acquire("model:7", limit=2, timeout=120)    # raises SlotsBusy after 120 s
    try:
        ...call the model...
    finally:
        await slot.release()

State in Redis (one Lua script per change, the server's clock), under `{<prefix>:slots}:<key>`:
- `holders`: a sorted set of holder ids scored by when their lease ends. A holder's process renews
  its lease while it holds the slot; a process that dies stops renewing, and its slot frees itself
  when the lease ends (`lease_seconds`).
- `queue`: waiting holder ids scored by their ticket (arrival order). `seen`: when each waiter last
  asked; a waiter that stops asking (its process died) leaves the queue after `waiter_ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field

from redis.asyncio import Redis

from ._redis import LUA_NOW_MS, Clock, clock_arg, key_space
from .errors import LimitError

logger = logging.getLogger("maestro.gateway")

# KEYS: holders, queue, seen, ticket counter. ARGV: holder, limit, lease ms, waiter ttl ms, clock.
# Replies {1, 0} (the slot is the caller's) or {0, position in line (1 = next)}.
_ACQUIRE = (
    LUA_NOW_MS
    + """
local holders, queue, seen, tickets = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holder, limit = ARGV[1], tonumber(ARGV[2])
local lease, waiter_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', seen, '-inf', now)
for _, waiter in ipairs(gone) do
  redis.call('ZREM', queue, waiter)
  redis.call('ZREM', seen, waiter)
end
local keep = lease + waiter_ttl + 60000
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, keep)
end
if redis.call('ZSCORE', holders, holder) then
  redis.call('ZADD', holders, now + lease, holder)
  return {1, 0}
end
if not redis.call('ZSCORE', queue, holder) then
  redis.call('ZADD', queue, redis.call('INCR', tickets), holder)
  redis.call('PEXPIRE', tickets, keep)
end
local free = limit - redis.call('ZCARD', holders)
local rank = redis.call('ZRANK', queue, holder)
if rank < free then
  redis.call('ZREM', queue, holder)
  redis.call('ZREM', seen, holder)
  redis.call('ZADD', holders, now + lease, holder)
  return {1, 0}
end
redis.call('ZADD', seen, now + waiter_ttl, holder)
return {0, rank - math.max(free, 0) + 1}
"""
)

# KEYS: holders. ARGV: holder, lease ms, clock. Replies 1 if the lease was extended, 0 if it had ended.
_RENEW = (
    LUA_NOW_MS
    + """
local now = now_ms()
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local ends = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
  if ends > now then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
    return 1
  end
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""
)

# KEYS: holders, queue, seen. ARGV: holder. Leaves the slot, or the line, whichever the holder is in.
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: holders. ARGV: clock. Replies the number of live holders.
_HELD = (
    LUA_NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
return redis.call('ZCARD', KEYS[1])
"""
)


def _raise_if_cancelled() -> None:
    """redis-py can swallow a cancellation that arrives while it connects; the task still says it
    is being cancelled, so honour that instead of waiting on in line."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class SlotsBusy(LimitError):  # noqa: N818 -- named for the outcome, as callers catch it
    """Every slot stayed taken for as long as the caller would wait."""

    def __init__(self, *, key: str, limit: int, waited_seconds: float, position: int) -> None:
        self.key = key
        self.limit = limit
        self.waited_seconds = waited_seconds
        self.position = position
        super().__init__(
            f"all {limit} concurrency slot(s) busy for {waited_seconds:.1f}s (still {position} in line)"
        )


@dataclass
class Slot:
    """One held slot; `release()` gives it back (idempotent). `waited_seconds`: time spent in line."""

    semaphore: SlotSemaphore
    key: str
    holder: str
    waited_seconds: float
    _renewal: asyncio.Task | None = field(default=None, repr=False)
    _released: bool = False

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        await self.semaphore.leave(self.key, self.holder)


class SlotSemaphore:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        lease_seconds: float = 30.0,
        waiter_ttl_seconds: float = 10.0,
        poll_seconds: tuple[float, float] = (0.02, 0.25),
        clock: Clock | None = None,
    ) -> None:
        """`lease_seconds`: how long a dead holder keeps its slot; `poll_seconds`: first and longest
        pause between two looks at the line; `clock` is for tests (see `_redis.LUA_NOW_MS`)."""
        if lease_seconds <= 0 or waiter_ttl_seconds <= poll_seconds[1]:
            raise ValueError("lease_seconds must be positive and waiter_ttl_seconds above the longest poll")
        self._prefix = key_space(prefix, "slots")
        self.lease_ms = int(lease_seconds * 1000)
        self.waiter_ttl_ms = int(waiter_ttl_seconds * 1000)
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._leave = redis.register_script(_LEAVE)
        self._held = redis.register_script(_HELD)

    async def acquire(self, key: str, *, limit: int, timeout: float, holder: str | None = None) -> Slot:
        """Wait in line for one of `limit` slots of `key`, at most `timeout` seconds (SlotsBusy after).

        Cancelling the wait (the caller went away) leaves the line at once."""
        if limit < 1:
            raise ValueError("a semaphore needs at least one slot")
        holder = holder or uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        started = loop.time()
        pause = self.poll_seconds[0]
        try:
            while True:
                granted, position = await self._try(key, holder, limit)
                _raise_if_cancelled()
                waited = loop.time() - started
                if granted:
                    slot = Slot(self, key, holder, waited_seconds=waited)
                    slot._renewal = asyncio.create_task(self._keep(key, holder))
                    return slot
                if waited >= timeout:
                    raise SlotsBusy(key=key, limit=limit, waited_seconds=waited, position=position)
                await asyncio.sleep(min(pause, max(0.0, timeout - waited)))
                pause = min(self.poll_seconds[1], pause * 1.5)
        except BaseException:  # timed out, cancelled, Redis failed: never stay in line
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leave(key, holder))
            raise

    async def held(self, key: str) -> int:
        """Live holders of `key` now (for tests and the console)."""
        return int(await self._held(keys=[self._key(key, "holders")], args=[clock_arg(self._clock)]))

    async def leave(self, key: str, holder: str) -> None:
        keys = [self._key(key, "holders"), self._key(key, "queue"), self._key(key, "seen")]
        await self._leave(keys=keys, args=[holder])

    async def _try(self, key: str, holder: str, limit: int) -> tuple[bool, int]:
        keys = [self._key(key, name) for name in ("holders", "queue", "seen", "tickets")]
        args: list[str | int] = [holder, limit, self.lease_ms, self.waiter_ttl_ms, clock_arg(self._clock)]
        granted, position = await self._acquire(keys=keys, args=args)
        return bool(int(granted)), int(position)

    async def _keep(self, key: str, holder: str) -> None:
        """Renew the lease at a third of its length while the slot is held."""
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                renewed = await self._renew(
                    keys=[self._key(key, "holders")], args=[holder, self.lease_ms, clock_arg(self._clock)]
                )
            except Exception:  # Redis hiccup: try again at the next turn; the lease has room for it
                logger.warning("could not renew the lease of slot %s for %s", key, holder, exc_info=True)
                continue
            if not int(renewed):
                logger.warning("slot %s of %s expired while held (the event loop stalled?)", key, holder)
                return

    def _key(self, key: str, part: str) -> str:
        return f"{self._prefix}:{key}:{part}"
