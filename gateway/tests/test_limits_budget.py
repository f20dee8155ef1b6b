"""BudgetLedger against a real Redis: atomic reservations across processes, rebuilds, idempotency."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import re
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.budgets import BudgetLedger, BudgetWindow
from gateway.limits import BudgetExceeded, UnknownReservation
from gateway.tests.clock import ManualClock

pytestmark = pytest.mark.anyio

RESETS_AT = datetime(2099, 1, 1, tzinfo=UTC)


async def nothing_spent_yet(window: BudgetWindow) -> int:
    return 0


def window(key: str = "tenant-a:day", limit: int = 1_000_000, label: str = "Tenant A today") -> BudgetWindow:
    return BudgetWindow(key=key, limit_micros=limit, resets_at=RESETS_AT, label=label)


def new_id() -> str:
    return uuid.uuid4().hex


def exhausted(label: str, key: str, spent: int, reserved: int, limit: int) -> str:
    """The message of a BudgetExceeded refusal by the window labelled `label`."""
    return re.escape(
        f"Budget {label!r} ({key}) is exhausted: {spent} spent and {reserved} reserved of {limit} micros; "
        f"it resets at {RESETS_AT.isoformat()}"
    )


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def ledger(redis, prefix, clock):
    return BudgetLedger(redis, prefix, load_spent=nothing_spent_yet, clock=clock)


# --- Several OS processes against one budget --------------------------------------------------


async def wait_for_everyone(redis: Redis, key: str, parties: int) -> None:
    """A barrier across processes, so their calls really overlap instead of running in turn."""
    await redis.incr(key)
    while int(await redis.get(key)) < parties:
        await asyncio.sleep(0.005)


async def one_call(ledger: BudgetLedger, budget: BudgetWindow, rng: random.Random) -> int:
    """Reserve, 'call the model', settle with a cost between the minimum and the grant."""
    reservation_id, minimum = new_id(), rng.randint(200, 1_000)
    try:
        grant = await ledger.reserve(
            reservation_id,
            [budget],
            wanted_micros=rng.randint(2_000, 8_000),
            minimum_micros=minimum,
            ttl_seconds=30,
        )
    except BudgetExceeded:
        return 0
    await asyncio.sleep(rng.random() / 100)
    actual = rng.choice([grant.granted_micros, rng.randint(minimum, grant.granted_micros)])
    await ledger.settle(reservation_id, actual)
    return actual


async def spend_from_one_process(redis_url, prefix, budget, parties, calls, seed) -> list[int]:
    redis = Redis.from_url(redis_url)
    try:
        ledger = BudgetLedger(redis, prefix, load_spent=nothing_spent_yet)
        await wait_for_everyone(redis, f"{prefix}:barrier", parties)
        rng = random.Random(seed)
        return await asyncio.gather(*(one_call(ledger, budget, rng) for _ in range(calls)))
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


def spend_in_process(args) -> list[int]:
    return asyncio.run(spend_from_one_process(*args))


async def test_budget_is_never_exceeded_by_concurrent_calls_from_several_processes(prefix, ledger):
    budget = window(limit=300_000)
    processes, calls = 4, 50  # wanting ~1M micros in all, three times the limit
    jobs = [(settings.REDIS_URL, prefix, budget, processes, calls, seed) for seed in range(processes)]
    results = await asyncio.to_thread(run_in_processes, spend_in_process, jobs)

    costs = [cost for process_costs in results for cost in process_costs]
    [usage] = await ledger.usage([budget])
    assert sum(costs) <= budget.limit_micros
    assert usage.spent_micros == sum(costs)
    assert usage.reserved_micros == 0
    assert 0 < costs.count(0) < len(costs)  # the budget really ran out, some calls were refused


# --- Grants: full, clamped, refused ------------------------------------------------------------


async def test_a_big_reservation_is_granted_in_full_when_the_budget_has_room(ledger):
    grant = await ledger.reserve(
        new_id(), [window()], wanted_micros=600_000, minimum_micros=1_000, ttl_seconds=60
    )

    assert grant.granted_micros == 600_000
    assert not grant.clamped


async def test_a_reservation_is_clamped_to_the_remaining_budget_rather_than_refused(ledger):
    budget = window(limit=1_000_000)
    first = new_id()
    await ledger.reserve(first, [budget], wanted_micros=700_000, minimum_micros=1, ttl_seconds=60)
    await ledger.settle(first, 700_000)

    grant = await ledger.reserve(
        new_id(), [budget], wanted_micros=500_000, minimum_micros=10_000, ttl_seconds=60
    )

    assert grant.granted_micros == 300_000
    assert grant.clamped


async def test_a_call_is_refused_only_when_its_minimum_does_not_fit(ledger):
    budget = window(limit=100_000)
    await ledger.reserve(new_id(), [budget], wanted_micros=95_000, minimum_micros=1, ttl_seconds=60)

    fits = await ledger.reserve(
        new_id(), [budget], wanted_micros=50_000, minimum_micros=5_000, ttl_seconds=60
    )
    message = exhausted("Tenant A today", "tenant-a:day", 0, 100_000, 100_000)
    with pytest.raises(BudgetExceeded, match=message):
        await ledger.reserve(new_id(), [budget], wanted_micros=50_000, minimum_micros=1, ttl_seconds=60)

    assert fits.granted_micros == 5_000


async def test_a_refusal_names_the_window_its_figures_and_when_it_resets(ledger):
    budget = window(key="tenant-a:month", limit=10_000, label="Tenant A this month")
    settled = new_id()
    await ledger.reserve(settled, [budget], wanted_micros=6_000, minimum_micros=1, ttl_seconds=60)
    await ledger.settle(settled, 6_000)
    await ledger.reserve(new_id(), [budget], wanted_micros=3_000, minimum_micros=1, ttl_seconds=60)

    message = exhausted("Tenant A this month", "tenant-a:month", 6_000, 3_000, 10_000)
    with pytest.raises(BudgetExceeded, match=message) as refusal:
        await ledger.reserve(new_id(), [budget], wanted_micros=5_000, minimum_micros=2_000, ttl_seconds=60)

    error = refusal.value
    assert (error.window_label, error.window_key) == ("Tenant A this month", "tenant-a:month")
    assert (error.limit_micros, error.spent_micros, error.reserved_micros) == (10_000, 6_000, 3_000)
    assert error.resets_at == RESETS_AT
    assert "Tenant A this month" in str(error)
    assert RESETS_AT.isoformat() in str(error)


async def test_the_tightest_window_decides_and_every_window_holds_the_grant(ledger):
    tenant_day = window(key="tenant-a:day", limit=1_000_000, label="Tenant A today")
    author_month = window(key="author-7:month", limit=40_000, label="Author 7 this month")

    grant = await ledger.reserve(
        new_id(), [tenant_day, author_month], wanted_micros=100_000, minimum_micros=1_000, ttl_seconds=60
    )
    message = exhausted("Author 7 this month", "author-7:month", 0, 40_000, 40_000)
    with pytest.raises(BudgetExceeded, match=message) as refusal:
        await ledger.reserve(
            new_id(), [tenant_day, author_month], wanted_micros=100_000, minimum_micros=1_000, ttl_seconds=60
        )

    assert grant.granted_micros == 40_000
    assert refusal.value.window_key == "author-7:month"
    assert [u.reserved_micros for u in await ledger.usage([tenant_day, author_month])] == [40_000, 40_000]


async def test_spend_in_one_tenants_window_leaves_another_tenants_window_untouched(ledger):
    window_a, window_b = window(key="tenant-a:day", limit=5_000), window(key="tenant-b:day", limit=5_000)
    reservation = new_id()
    await ledger.reserve(reservation, [window_a], wanted_micros=5_000, minimum_micros=5_000, ttl_seconds=60)
    await ledger.settle(reservation, 5_000)

    grant = await ledger.reserve(
        new_id(), [window_b], wanted_micros=5_000, minimum_micros=5_000, ttl_seconds=60
    )

    assert grant.granted_micros == 5_000


# --- Dead processes and lost counters -----------------------------------------------------------


async def test_reservations_of_a_dead_process_are_reclaimed_after_their_ttl(ledger, clock):
    budget = window(limit=10_000)
    # A process reserves everything, then dies without settling or releasing.
    await ledger.reserve(new_id(), [budget], wanted_micros=10_000, minimum_micros=1, ttl_seconds=0.2)
    clock.advance(0.199)
    with pytest.raises(BudgetExceeded, match=exhausted("Tenant A today", "tenant-a:day", 0, 10_000, 10_000)):
        await ledger.reserve(new_id(), [budget], wanted_micros=10_000, minimum_micros=1, ttl_seconds=60)

    clock.advance(0.001)
    grant = await ledger.reserve(new_id(), [budget], wanted_micros=10_000, minimum_micros=1, ttl_seconds=60)

    assert grant.granted_micros == 10_000


async def test_a_missing_counter_is_loaded_through_the_callback_once_under_concurrency(redis, prefix):
    loads = []

    async def load_spent(window: BudgetWindow) -> int:
        loads.append(window.key)
        await asyncio.sleep(0.05)  # a slow SUM over PostgreSQL, so the others pile up meanwhile
        return 900_000

    # Three ledgers with their own clients stand for three processes; each runs 20 calls at once.
    clients = [Redis.from_url(settings.REDIS_URL) for _ in range(3)]
    ledgers = [BudgetLedger(client, prefix, load_spent=load_spent) for client in clients]
    budget = window(limit=1_000_000)
    grants = await asyncio.gather(
        *(
            ledger.reserve(new_id(), [budget], wanted_micros=1_000, minimum_micros=1_000, ttl_seconds=60)
            for ledger in ledgers
            for _ in range(20)
        )
    )
    [usage] = await ledgers[0].usage([budget])
    for client in clients:
        await client.aclose()

    assert loads == ["tenant-a:day"]
    assert len(grants) == 60
    assert (usage.spent_micros, usage.reserved_micros) == (900_000, 60_000)


async def test_a_counter_lost_after_a_restart_is_rebuilt_rather_than_read_as_zero(redis, prefix):
    recorded_in_postgres = 0

    async def load_spent(window: BudgetWindow) -> int:
        return recorded_in_postgres

    ledger = BudgetLedger(redis, prefix, load_spent=load_spent)
    budget = window(limit=10_000)
    reservation = new_id()
    await ledger.reserve(reservation, [budget], wanted_micros=8_000, minimum_micros=1, ttl_seconds=60)
    recorded_in_postgres = 8_000
    await ledger.settle(reservation, 8_000)
    await redis.delete(*[key async for key in redis.scan_iter(match=f"*{prefix}:*:spent")])  # Redis lost it

    grant = await ledger.reserve(new_id(), [budget], wanted_micros=8_000, minimum_micros=1, ttl_seconds=60)

    assert grant.granted_micros == 2_000


# --- Settle and release -------------------------------------------------------------------------


# The gateway passes the windows it reserved, sparing a read of the reservation's record.
KNOWN_WINDOWS = pytest.mark.parametrize("known", [False, True], ids=["windows read back", "windows passed"])


@KNOWN_WINDOWS
async def test_settling_twice_counts_the_cost_once(ledger, known):
    budget = window()
    reservation = new_id()
    await ledger.reserve(reservation, [budget], wanted_micros=50_000, minimum_micros=1, ttl_seconds=60)
    windows = [budget] if known else None

    first = await ledger.settle(reservation, 30_000, windows=windows)
    second = await ledger.settle(reservation, 30_000, windows=windows)

    assert (first[0].spent_before_micros, first[0].spent_micros, first[0].reserved_micros) == (0, 30_000, 0)
    assert (second[0].spent_before_micros, second[0].spent_micros) == (30_000, 30_000)


@KNOWN_WINDOWS
async def test_release_gives_the_hold_back_and_repeating_it_changes_nothing(ledger, known):
    budget = window(limit=10_000)
    reservation, other = new_id(), new_id()
    await ledger.reserve(reservation, [budget], wanted_micros=6_000, minimum_micros=1, ttl_seconds=60)
    await ledger.reserve(other, [budget], wanted_micros=3_000, minimum_micros=1, ttl_seconds=60)
    windows = [budget] if known else None

    await ledger.release(reservation, windows=windows)
    await ledger.release(reservation, windows=windows)

    [usage] = await ledger.usage([budget])
    assert (usage.spent_micros, usage.reserved_micros) == (0, 3_000)


async def test_release_after_settle_does_not_undo_the_spend(ledger):
    budget = window()
    reservation = new_id()
    await ledger.reserve(reservation, [budget], wanted_micros=6_000, minimum_micros=1, ttl_seconds=60)
    await ledger.settle(reservation, 5_000)

    await ledger.release(reservation)
    [usage] = await ledger.settle(reservation, 5_000)

    assert (usage.spent_micros, usage.reserved_micros) == (5_000, 0)


async def test_settle_records_a_cost_above_the_grant_and_after_the_hold_expired(ledger, clock):
    budget = window(limit=10_000)
    reservation = new_id()
    await ledger.reserve(reservation, [budget], wanted_micros=4_000, minimum_micros=1, ttl_seconds=0.1)
    clock.advance(0.2)

    [usage] = await ledger.settle(reservation, 5_000)

    assert (usage.spent_micros, usage.reserved_micros) == (5_000, 0)


async def test_settle_reports_crossing_80_and_100_percent_to_exactly_one_caller(ledger):
    budget = window(limit=10_000)
    crossings = []
    for cost in (7_000, 2_000, 500, 500):
        reservation = new_id()
        await ledger.reserve(reservation, [budget], wanted_micros=cost, minimum_micros=cost, ttl_seconds=60)
        [usage] = await ledger.settle(reservation, cost)
        crossings.append(usage.crossed((80, 100)))

    assert crossings == [[], [80], [], [100]]


async def test_settling_an_unknown_reservation_raises(ledger):
    message = "No budget reservation 'never-reserved': never made, or its record expired"
    with pytest.raises(UnknownReservation, match=re.escape(message)):
        await ledger.settle("never-reserved", 1_000)


async def test_a_reservation_id_cannot_be_reused(ledger):
    reservation = new_id()
    await ledger.reserve(reservation, [window()], wanted_micros=1_000, minimum_micros=1, ttl_seconds=60)

    with pytest.raises(ValueError, match=rf"^Reservation id {reservation!r} was already used$"):
        await ledger.reserve(reservation, [window()], wanted_micros=1_000, minimum_micros=1, ttl_seconds=60)


async def test_usage_of_a_fresh_window_loads_its_spend_from_the_callback(redis, prefix):
    async def load_spent(window: BudgetWindow) -> int:
        return 2_500

    ledger = BudgetLedger(redis, prefix, load_spent=load_spent)

    [usage] = await ledger.usage([window(limit=10_000)])

    assert (usage.spent_micros, usage.reserved_micros, usage.remaining_micros) == (2_500, 0, 7_500)


def test_a_window_needs_an_aware_reset_time():
    with pytest.raises(ValueError, match=r"^Budget window 'k': resets_at must be timezone-aware$"):
        BudgetWindow(key="k", limit_micros=1, resets_at=datetime(2099, 1, 1), label="naive")
