"""CircuitBreaker against a real Redis: thresholds, cooldowns and a single probe across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.limits import CircuitBreaker, CircuitState
from gateway.tests.clock import ManualClock

pytestmark = pytest.mark.anyio

MODEL = "openai:gpt-4o"
# Times the breaker's scripts see on the test's own clock, which only the test moves: a stalled
# machine can neither end a cooldown early nor keep one from ending. Redis expires the failure
# times on its real clock after the window, so the window is long enough to outlast any stall.
WINDOW_S = 600
COOLDOWN_S = 20
PROBE_TTL_S = 60
ONE_MS = 0.001


def make_breaker(redis: Redis, prefix: str, clock, **overrides) -> CircuitBreaker:
    options = {
        "failure_threshold": 3,
        "window_seconds": WINDOW_S,
        "cooldown_seconds": COOLDOWN_S,
        "probe_ttl_seconds": PROBE_TTL_S,
    }
    return CircuitBreaker(redis, prefix, **(options | overrides), clock=clock)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def breaker(redis, prefix, clock):
    return make_breaker(redis, prefix, clock)


async def fail(breaker: CircuitBreaker, times: int, key: str = MODEL) -> None:
    for _ in range(times):
        await breaker.record_failure(key)


async def open_and_wait_out_the_cooldown(breaker: CircuitBreaker, clock: ManualClock) -> None:
    await fail(breaker, 3)
    clock.advance(COOLDOWN_S)


# --- Several OS processes racing for the probe ------------------------------------------------------


async def wait_for_everyone(redis: Redis, key: str, parties: int) -> None:
    """A barrier across processes, so their calls really overlap instead of running in turn."""
    await redis.incr(key)
    while int(await redis.get(key)) < parties:
        await asyncio.sleep(0.005)


async def race_for_the_probe(redis_url: str, prefix: str, now_ms: int, parties: int, callers: int) -> int:
    redis = Redis.from_url(redis_url)
    try:
        # The test's clock, stopped: however slow this machine, the first probe is still alive when
        # the last caller arrives, so a second admission could only come from a race.
        breaker = make_breaker(redis, prefix, lambda: now_ms)
        await wait_for_everyone(redis, f"{prefix}:barrier", parties)
        return sum(await asyncio.gather(*(breaker.allow(MODEL) for _ in range(callers))))
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


def race_in_process(args) -> int:
    return asyncio.run(race_for_the_probe(*args))


async def test_exactly_one_probe_is_admitted_among_callers_of_several_processes(breaker, prefix, clock):
    await open_and_wait_out_the_cooldown(breaker, clock)
    jobs = [(settings.REDIS_URL, prefix, clock.now_ms, 3, 30)] * 3
    admitted = await asyncio.to_thread(run_in_processes, race_in_process, jobs)

    assert sum(admitted) == 1


# --- One process ----------------------------------------------------------------------------------


async def test_the_circuit_opens_at_the_failure_threshold_and_refuses_calls(breaker):
    await fail(breaker, 2)
    closed_before = await breaker.state(MODEL)
    allowed_before = await breaker.allow(MODEL)

    await fail(breaker, 1)

    assert (closed_before, allowed_before) == (CircuitState.CLOSED, True)
    assert await breaker.state(MODEL) == CircuitState.OPEN
    assert not await breaker.allow(MODEL)


async def test_failures_older_than_the_window_are_forgotten(breaker, clock):
    await fail(breaker, 2, key="forgotten")
    await fail(breaker, 2, key="remembered")

    clock.advance(WINDOW_S - ONE_MS)
    await fail(breaker, 1, key="remembered")  # the earlier two are still inside the window: 3
    clock.advance(ONE_MS)
    await fail(breaker, 2, key="forgotten")  # the earlier two are a window old: only 2 count

    assert await breaker.state("remembered") == CircuitState.OPEN
    assert await breaker.state("forgotten") == CircuitState.CLOSED


async def test_a_success_while_closed_does_not_wipe_the_failures(breaker):
    # A provider failing every other call must still trip the breaker.
    for _ in range(3):
        await breaker.record_failure(MODEL)
        await breaker.record_success(MODEL)

    assert await breaker.state(MODEL) == CircuitState.OPEN


async def test_the_circuit_stays_open_until_the_cooldown_is_over(breaker, clock):
    await fail(breaker, 3)

    clock.advance(COOLDOWN_S - ONE_MS)
    open_at_the_end = (await breaker.state(MODEL), await breaker.allow(MODEL))
    clock.advance(ONE_MS)

    assert open_at_the_end == (CircuitState.OPEN, False)
    assert await breaker.state(MODEL) == CircuitState.HALF_OPEN


async def test_after_the_cooldown_exactly_one_of_many_concurrent_callers_probes(breaker, clock):
    await open_and_wait_out_the_cooldown(breaker, clock)

    assert await breaker.state(MODEL) == CircuitState.HALF_OPEN
    admitted = await asyncio.gather(*(breaker.allow(MODEL) for _ in range(50)))

    assert admitted.count(True) == 1


async def test_a_successful_probe_closes_the_circuit_and_resets_the_count(breaker, clock):
    await open_and_wait_out_the_cooldown(breaker, clock)
    assert await breaker.allow(MODEL)

    await breaker.record_success(MODEL)
    await fail(breaker, 2)

    assert await breaker.state(MODEL) == CircuitState.CLOSED
    assert await breaker.allow(MODEL)


async def test_a_failed_probe_reopens_the_circuit_for_another_cooldown(breaker, clock):
    await open_and_wait_out_the_cooldown(breaker, clock)
    assert await breaker.allow(MODEL)

    await breaker.record_failure(MODEL)

    assert await breaker.state(MODEL) == CircuitState.OPEN
    assert not await breaker.allow(MODEL)
    clock.advance(COOLDOWN_S - ONE_MS)
    assert not await breaker.allow(MODEL)
    clock.advance(ONE_MS)
    assert await breaker.allow(MODEL)


async def test_a_probe_that_never_reports_back_is_replaced_after_its_ttl(breaker, clock):
    await open_and_wait_out_the_cooldown(breaker, clock)
    assert await breaker.allow(MODEL)  # this probe's process dies
    assert not await breaker.allow(MODEL)

    clock.advance(PROBE_TTL_S - ONE_MS)
    assert not await breaker.allow(MODEL)
    clock.advance(ONE_MS)

    assert await breaker.allow(MODEL)
    assert not await breaker.allow(MODEL)


async def test_a_straggler_success_does_not_cut_the_cooldown_short(breaker):
    await fail(breaker, 3)

    await breaker.record_success(MODEL)

    assert not await breaker.allow(MODEL)


async def test_states_reports_every_key_in_one_call_and_keys_are_independent(breaker):
    await fail(breaker, 3, key="provider-a")
    await fail(breaker, 2, key="provider-b")

    states = await breaker.states(["provider-a", "provider-b", "provider-c"])

    assert states == {
        "provider-a": CircuitState.OPEN,
        "provider-b": CircuitState.CLOSED,
        "provider-c": CircuitState.CLOSED,
    }
