"""Rebuilding a lost spent counter from the caller's durable records, once across all processes.

After a Redis restart every gateway process finds the counters missing at the same moment. Without
coordination each would run the same (expensive) sum over PostgreSQL; worse, one that started early
could overwrite a counter that settles have already moved. So: coroutines of one process share one
rebuild, processes take a short Redis lock, and the counter is only ever created if still missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from gateway.budgets.types import BudgetWindow

LoadSpent = Callable[[BudgetWindow], Awaitable[int]]

# Deletes the lock only if it is still ours: a holder slower than the lock's TTL must not free
# the lock another process has taken over since.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class SpentCounterRebuilder:
    def __init__(
        self,
        redis: Redis,
        load_spent: LoadSpent,
        *,
        lock_seconds: float,
        poll_seconds: float = 0.01,
    ) -> None:
        self._redis = redis
        self._load_spent = load_spent
        self._lock_ms = max(1, int(lock_seconds * 1000))
        self._poll_seconds = poll_seconds
        self._unlock = redis.register_script(_UNLOCK)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def rebuild(self, window: BudgetWindow, counter_key: str, expire_at: int) -> None:
        """Return once the counter exists, having loaded it at most once in this process."""
        task = self._in_flight.get(counter_key)
        if task is None:
            task = asyncio.ensure_future(self._rebuild_across_processes(window, counter_key, expire_at))
            self._in_flight[counter_key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(counter_key, None))
        # Shielded: one waiter being cancelled must not cancel the rebuild the others wait for.
        await asyncio.shield(task)

    async def _rebuild_across_processes(self, window: BudgetWindow, counter_key: str, expire_at: int) -> None:
        lock_key = f"{counter_key}:rebuild-lock"
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + 3 * self._lock_ms / 1000
        while not await self._redis.exists(counter_key):
            if await self._redis.set(lock_key, token, nx=True, px=self._lock_ms):
                try:
                    await self._load_if_still_missing(window, counter_key, expire_at)
                finally:
                    await self._unlock(keys=[lock_key], args=[token])
                return
            if loop.time() > give_up_at:
                raise TimeoutError(f"Spent counter {counter_key} was not rebuilt by the lock holder")
            await asyncio.sleep(self._poll_seconds)

    async def _load_if_still_missing(self, window: BudgetWindow, counter_key: str, expire_at: int) -> None:
        # Another process may have finished its rebuild between our check and taking the lock.
        if await self._redis.exists(counter_key):
            return
        spent = await self._load_spent(window)
        # NX: never overwrite a counter that appeared meanwhile (settles may already have moved it).
        await self._redis.set(counter_key, int(spent), nx=True, exat=expire_at)
