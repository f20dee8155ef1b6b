"""TokenBucketLimiter against a real Redis: shared across processes, all-or-nothing, refill, debt."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.limits import Bucket, RateLimited, RequestExceedsCapacity, TokenBucketLimiter

pytestmark = pytest.mark.anyio


@pytest.fixture
def limiter(redis, prefix):
    return TokenBucketLimiter(redis, prefix)


def tokens(capacity: int = 100, refill_per_second: float = 0.001, key: str = "tenant-a:gpt:tpm") -> Bucket:
    # A refill this slow is nil over a test: the bucket only holds what it started with.
    return Bucket(key=key, capacity=capacity, refill_per_second=refill_per_second, label=f"{key} label")


# --- Several OS processes against one bucket ----------------------------------------------------


async def wait_for_everyone(redis: Redis, key: str, parties: int) -> None:
    """A barrier across processes, so their calls really overlap instead of running in turn."""
    await redis.incr(key)
    while int(await redis.get(key)) < parties:
        await asyncio.sleep(0.005)


async def try_one_token(limiter: TokenBucketLimiter, bucket: Bucket) -> bool:
    try:
        await limiter.acquire([bucket], [1])
    except RateLimited:
        return False
    return True


async def acquire_from_one_process(redis_url: str, prefix: str, bucket: Bucket, parties: int, attempts: int):
    redis = Redis.from_url(redis_url)
    try:
        limiter = TokenBucketLimiter(redis, prefix)
        await wait_for_everyone(redis, f"{prefix}:barrier", parties)
        return sum(await asyncio.gather(*(try_one_token(limiter, bucket) for _ in range(attempts))))
    finally:
        await redis.aclose()


def run_in_processes(worker, jobs: list) -> list:
    """Run `worker(job)` for each job in its own OS process, all at once."""
    context = multiprocessing.get_context("forkserver")
    # Workers fork from one server process that imported these once, rather than each importing
    # them afresh (spawn): seconds saved per test. fork itself is unsafe from a threaded pytest.
    context.set_forkserver_preload(["pytest", "django.conf", "redis.asyncio", "gateway.limits"])
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        return list(pool.map(worker, jobs))


def acquire_in_process(args) -> int:
    return asyncio.run(acquire_from_one_process(*args))


async def test_two_processes_together_cannot_exceed_a_bucket(prefix):
    bucket = tokens(capacity=60)
    jobs = [(settings.REDIS_URL, prefix, bucket, 2, 60)] * 2  # each alone would take the whole bucket
    granted = await asyncio.to_thread(run_in_processes, acquire_in_process, jobs)

    assert sum(granted) == 60


# --- One process ----------------------------------------------------------------------------------


async def test_a_call_refused_by_one_bucket_takes_nothing_from_the_others(limiter):
    tpm, rpm = tokens(capacity=1_000, key="tpm"), tokens(capacity=1, key="rpm")
    await limiter.acquire([rpm], [1])

    with pytest.raises(RateLimited) as refusal:
        await limiter.acquire([tpm, rpm], [900, 1])
    await limiter.acquire([tpm], [1_000])  # still full

    assert refusal.value.bucket_label == "rpm label"


async def test_retry_after_follows_from_the_deficit_and_refill_rate(limiter):
    bucket = tokens(capacity=10, refill_per_second=10)
    await limiter.acquire([bucket], [10])

    with pytest.raises(RateLimited) as refusal:
        await limiter.acquire([bucket], [5])

    assert 0.4 <= refusal.value.retry_after_seconds <= 0.5
    assert refusal.value.retry_after_header == "1"
    await asyncio.sleep(refusal.value.retry_after_seconds + 0.01)
    await limiter.acquire([bucket], [5])


async def test_retry_after_is_that_of_the_slowest_bucket(limiter):
    fast, slow = tokens(capacity=10, refill_per_second=100, key="fast"), tokens(capacity=10, key="slow")
    await limiter.acquire([fast, slow], [10, 10])

    with pytest.raises(RateLimited) as refusal:
        await limiter.acquire([fast, slow], [10, 1])

    assert refusal.value.bucket_key == "slow"
    assert refusal.value.retry_after_seconds > 100


async def test_a_bucket_refills_over_time(limiter):
    bucket = tokens(capacity=10, refill_per_second=20)
    await limiter.acquire([bucket], [10])

    await asyncio.sleep(0.3)  # 6 tokens back
    await limiter.acquire([bucket], [5])
    with pytest.raises(RateLimited):
        await limiter.acquire([bucket], [5])


async def test_a_request_larger_than_the_capacity_is_refused_as_never_passable(limiter):
    with pytest.raises(RequestExceedsCapacity) as refusal:
        await limiter.acquire([tokens(capacity=1_000)], [1_001])

    assert not isinstance(refusal.value, RateLimited)
    assert (refusal.value.requested, refusal.value.capacity) == (1_001, 1_000)


async def test_an_underestimate_is_charged_after_the_call_as_debt_that_delays_later_callers(limiter):
    bucket = tokens(capacity=100, refill_per_second=100)
    await limiter.acquire([bucket], [100])

    level = await limiter.adjust(bucket, 50)  # the call used 150 tokens, not the 100 estimated
    with pytest.raises(RateLimited) as refusal:
        await limiter.acquire([bucket], [10])

    assert level == pytest.approx(-50, abs=1)
    assert 0.55 <= refusal.value.retry_after_seconds <= 0.6


async def test_an_overestimate_is_refunded_after_the_call(limiter):
    bucket = tokens(capacity=100)
    await limiter.acquire([bucket], [80])

    await limiter.adjust(bucket, -60)  # the call used 20 of the 80 estimated

    await limiter.acquire([bucket], [80])


async def test_a_refund_never_lifts_a_bucket_above_its_capacity(limiter):
    bucket = tokens(capacity=100)

    await limiter.adjust(bucket, -500)

    await limiter.acquire([bucket], [100])
    with pytest.raises(RateLimited):
        await limiter.acquire([bucket], [1])


async def test_costs_can_be_given_by_bucket_key(limiter):
    tpm, rpm = tokens(capacity=100, key="tpm"), tokens(capacity=1, key="rpm")

    await limiter.acquire([tpm, rpm], {"rpm": 1, "tpm": 100})

    with pytest.raises(RateLimited):
        await limiter.acquire([tpm], {"tpm": 1})


async def test_one_tenants_bucket_does_not_limit_another_tenant(limiter):
    await limiter.acquire([tokens(capacity=10, key="tenant-a:tpm")], [10])

    await limiter.acquire([tokens(capacity=10, key="tenant-b:tpm")], [10])
