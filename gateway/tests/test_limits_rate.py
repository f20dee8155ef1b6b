"""TokenBucketLimiter against a real Redis: shared across processes, all-or-nothing, refill, debt."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.limits import Bucket, RateLimited, RequestExceedsCapacity, TokenBucketLimiter
from gateway.tests.clock import ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def limiter(redis, prefix, clock):
    return TokenBucketLimiter(redis, prefix, clock=clock)


def refused(label: str, retry_after: str = r"\d+\.\d\d") -> str:
    """The message of a RateLimited refusal by the bucket labelled `label`."""
    return re.escape(f"Rate limit {label!r} reached; retry after ") + retry_after + "s$"


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

    with pytest.raises(RateLimited, match=refused("rpm label")) as refusal:
        await limiter.acquire([tpm, rpm], [900, 1])
    await limiter.acquire([tpm], [1_000])  # still full

    assert refusal.value.bucket_label == "rpm label"


async def test_retry_after_follows_from_the_deficit_and_refill_rate(limiter, clock):
    bucket = tokens(capacity=10, refill_per_second=0.125)
    await limiter.acquire([bucket], [10])
    clock.advance(0.5)  # 1/16 of a token back

    with pytest.raises(RateLimited, match=refused(bucket.label, r"39\.50")) as refusal:
        await limiter.acquire([bucket], [5])

    assert refusal.value.retry_after_seconds == 39.5  # (5 - 1/16) tokens at 1/8 a second
    assert refusal.value.retry_after_header == "40"  # whole seconds, rounded up
    clock.advance(39.5 - 0.001)
    with pytest.raises(RateLimited, match=refused(bucket.label, r"0\.00")):
        await limiter.acquire([bucket], [5])
    clock.advance(0.001)
    await limiter.acquire([bucket], [5])


def test_the_retry_after_header_is_at_least_one_second():
    refusal = RateLimited(bucket_label="rpm", bucket_key="rpm", retry_after_seconds=0.45)

    assert refusal.retry_after_header == "1"


async def test_retry_after_is_that_of_the_slowest_bucket(limiter):
    fast, slow = tokens(capacity=10, refill_per_second=100, key="fast"), tokens(capacity=10, key="slow")
    await limiter.acquire([fast, slow], [10, 10])

    with pytest.raises(RateLimited, match=refused("slow label")) as refusal:
        await limiter.acquire([fast, slow], [10, 1])

    assert refusal.value.bucket_key == "slow"
    assert refusal.value.retry_after_seconds > 100


async def test_a_bucket_refills_over_time(limiter, clock):
    bucket = tokens(capacity=10, refill_per_second=0.125)
    await limiter.acquire([bucket], [10])

    clock.advance(48)  # 6 tokens back
    await limiter.acquire([bucket], [5])
    with pytest.raises(RateLimited, match=refused(bucket.label, r"32\.00")):
        await limiter.acquire([bucket], [5])


async def test_a_request_larger_than_the_capacity_is_refused_as_never_passable(limiter):
    message = "Request needs 1001 from rate limit 'tenant-a:gpt:tpm label', which holds at most 1000"
    with pytest.raises(RequestExceedsCapacity, match=re.escape(message)) as refusal:
        await limiter.acquire([tokens(capacity=1_000)], [1_001])

    assert not isinstance(refusal.value, RateLimited)
    assert (refusal.value.requested, refusal.value.capacity) == (1_001, 1_000)


async def test_an_underestimate_is_charged_after_the_call_as_debt_that_delays_later_callers(limiter):
    bucket = tokens(capacity=100, refill_per_second=0.125)
    await limiter.acquire([bucket], [100])

    level = await limiter.adjust(bucket, 50)  # the call used 150 tokens, not the 100 estimated
    with pytest.raises(RateLimited, match=refused(bucket.label, r"480\.00")) as refusal:
        await limiter.acquire([bucket], [10])

    assert level == -50
    assert refusal.value.retry_after_seconds == 480  # the debt of 50 and the 10 wanted, at 1/8 a second


async def test_an_overestimate_is_refunded_after_the_call(limiter):
    bucket = tokens(capacity=100)
    await limiter.acquire([bucket], [80])

    await limiter.adjust(bucket, -60)  # the call used 20 of the 80 estimated

    await limiter.acquire([bucket], [80])


async def test_the_tenant_and_key_buckets_are_adjusted_together_each_within_its_own_capacity(limiter):
    tenant, key = tokens(capacity=100, key="tenant:tpm"), tokens(capacity=1_000, key="key:tpm")
    await limiter.acquire([tenant, key], [90, 90])

    levels = await limiter.adjust_all([tenant, key], -50)  # the call used 40 of the 90 estimated

    assert levels == [60, 960]
    assert await limiter.adjust_all([tenant, key], -500) == [100, 1_000]  # capped, each at its own
    assert await limiter.adjust_all([], 5) == []


async def test_a_refund_never_lifts_a_bucket_above_its_capacity(limiter):
    bucket = tokens(capacity=100)

    await limiter.adjust(bucket, -500)

    await limiter.acquire([bucket], [100])
    with pytest.raises(RateLimited, match=refused(bucket.label)):
        await limiter.acquire([bucket], [1])


async def test_costs_can_be_given_by_bucket_key(limiter):
    tpm, rpm = tokens(capacity=100, key="tpm"), tokens(capacity=1, key="rpm")

    await limiter.acquire([tpm, rpm], {"rpm": 1, "tpm": 100})

    with pytest.raises(RateLimited, match=refused("tpm label")):
        await limiter.acquire([tpm], {"tpm": 1})


async def test_one_tenants_bucket_does_not_limit_another_tenant(limiter):
    await limiter.acquire([tokens(capacity=10, key="tenant-a:tpm")], [10])

    await limiter.acquire([tokens(capacity=10, key="tenant-b:tpm")], [10])
