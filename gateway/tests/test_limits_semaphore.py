"""Concurrency slots in real Redis: a limit shared by clients that share nothing else, a fair line,
and slots that free themselves when their holder's process dies."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.limits import SlotsBusy, SlotSemaphore

pytestmark = pytest.mark.anyio


def _semaphore(prefix: str, **options) -> tuple[SlotSemaphore, Redis]:
    """A semaphore on a Redis connection of its own, as another gateway process would have."""
    client = Redis.from_url(settings.REDIS_URL)
    return SlotSemaphore(client, prefix, **options), client


async def test_no_more_holders_than_slots_across_separate_clients(redis, prefix):
    clients = [_semaphore(prefix) for _ in range(4)]
    inside, peak = 0, 0

    async def work(semaphore: SlotSemaphore) -> None:
        nonlocal inside, peak
        slot = await semaphore.acquire("model:1", limit=2, timeout=10)
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.05)
        inside -= 1
        await slot.release()

    try:
        await asyncio.gather(*(work(semaphore) for semaphore, _ in clients for _ in range(3)))
    finally:
        for _, client in clients:
            await client.aclose()
    assert peak == 2
    assert await SlotSemaphore(redis, prefix).held("model:1") == 0  # every slot was given back


async def test_waiters_are_served_in_the_order_they_arrived(redis, prefix):
    semaphore = SlotSemaphore(redis, prefix)
    first = await semaphore.acquire("m", limit=1, timeout=5)
    order: list[int] = []

    async def wait(number: int) -> None:
        slot = await semaphore.acquire("m", limit=1, timeout=10)
        order.append(number)
        await asyncio.sleep(0.01)
        await slot.release()

    tasks = []
    for number in range(5):
        tasks.append(asyncio.create_task(wait(number)))
        await asyncio.sleep(0.05)  # each one is in line before the next arrives
    await first.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_wait_longer_than_the_timeout_gives_up_and_leaves_the_line(redis, prefix):
    semaphore = SlotSemaphore(redis, prefix)
    held = await semaphore.acquire("m", limit=1, timeout=5)
    started = time.perf_counter()
    with pytest.raises(SlotsBusy) as caught:
        await semaphore.acquire("m", limit=1, timeout=0.3)
    assert 0.3 <= time.perf_counter() - started < 2
    assert caught.value.limit == 1
    assert caught.value.position == 1
    assert "busy for 0.3s" in str(caught.value)
    assert await redis.zcard(f"{{{prefix}:slots}}:m:queue") == 0  # nobody left in line
    await held.release()
    again = await semaphore.acquire("m", limit=1, timeout=1)  # the next caller is not stuck behind it
    await again.release()


async def test_a_cancelled_wait_leaves_the_line_at_once(redis, prefix):
    semaphore = SlotSemaphore(redis, prefix)
    held = await semaphore.acquire("m", limit=1, timeout=5)
    waiter = asyncio.create_task(semaphore.acquire("m", limit=1, timeout=30))
    await asyncio.sleep(0.1)
    assert await redis.zcard(f"{{{prefix}:slots}}:m:queue") == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await redis.zcard(f"{{{prefix}:slots}}:m:queue") == 0
    await held.release()


async def test_a_long_call_keeps_its_slot_by_renewing_the_lease(redis, prefix):
    semaphore = SlotSemaphore(redis, prefix, lease_seconds=0.3, waiter_ttl_seconds=1.0)
    slot = await semaphore.acquire("m", limit=1, timeout=1)
    await asyncio.sleep(1.0)  # three leases long
    with pytest.raises(SlotsBusy):
        await semaphore.acquire("m", limit=1, timeout=0.2)
    await slot.release()
    assert await semaphore.held("m") == 0


HOLD_AND_DIE = """
import asyncio, os, sys
from redis.asyncio import Redis
from gateway.limits import SlotSemaphore

async def main():
    redis = Redis.from_url(sys.argv[1])
    semaphore = SlotSemaphore(redis, sys.argv[2], lease_seconds=1.0, waiter_ttl_seconds=1.0)
    await semaphore.acquire("m", limit=1, timeout=5)
    print("holding", flush=True)
    os._exit(0)  # dies holding the slot: no release, no renewal

asyncio.run(main())
"""


async def test_the_slot_of_a_process_that_died_holding_it_frees_itself_when_its_lease_ends(redis, prefix):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_AND_DIE,
        settings.REDIS_URL,
        prefix,
        stdout=subprocess.PIPE,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    output, _ = await process.communicate()
    assert output.strip() == b"holding"
    semaphore = SlotSemaphore(redis, prefix)
    assert await semaphore.held("m") == 1
    started = time.perf_counter()
    slot = await semaphore.acquire("m", limit=1, timeout=5)
    waited = time.perf_counter() - started
    await slot.release()
    assert waited < 2.5  # the dead holder's one-second lease, not forever


async def test_a_waiter_whose_process_died_does_not_block_the_line(redis, prefix, monkeypatch):
    semaphore = SlotSemaphore(redis, prefix, waiter_ttl_seconds=0.5)
    held = await semaphore.acquire("m", limit=1, timeout=5)
    ghost = asyncio.create_task(semaphore.acquire("m", limit=1, timeout=30, holder="ghost"))
    await asyncio.sleep(0.1)
    ghost.cancel()  # would leave the line; a dead process cannot, so put it back as if it had died
    with pytest.raises(asyncio.CancelledError):
        await ghost
    await redis.zadd(f"{{{prefix}:slots}}:m:queue", {"ghost": 0})
    await redis.zadd(f"{{{prefix}:slots}}:m:seen", {"ghost": 0})  # last seen long ago
    await held.release()
    slot = await semaphore.acquire("m", limit=1, timeout=1)  # not behind the ghost
    await slot.release()


async def test_a_limit_below_one_is_refused(redis, prefix):
    with pytest.raises(ValueError, match="at least one slot"):
        await SlotSemaphore(redis, prefix).acquire("m", limit=0, timeout=1)
