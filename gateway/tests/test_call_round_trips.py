"""How many times a call waits for Redis. Its admission (rate limits, budget hold, journal entry of the
first attempt) is one round trip, and so is its settling (the spend and the token buckets); a refusal
by one part leaves nothing behind of the others. Real Redis, real HTTP to the fake provider."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from gateway import GatewayError, complete
from gateway.budgets import windows as budget_windows
from gateway.catalog import forget_catalog, load_catalog
from gateway.limits.round_trip import Command, ScriptCall, run_together
from gateway.models import Budget
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_trips(monkeypatch) -> list[list[str]]:
    """Each round trip a client makes, as the names of the commands it carried (EVALSHA, HSET...)."""
    trips: list[list[str]] = []
    single, piped = Redis.execute_command, Pipeline._execute_pipeline

    async def execute_command(self, *args, **options):
        trips.append([str(args[0]).upper()])
        return await single(self, *args, **options)

    async def execute_pipeline(self, connection, commands, raise_on_error):
        trips.append([str(args[0]).upper() for args, _options in commands])
        return await piped(self, connection, commands, raise_on_error)

    monkeypatch.setattr(Redis, "execute_command", execute_command)
    monkeypatch.setattr(Pipeline, "_execute_pipeline", execute_pipeline)
    return trips


@pytest.fixture
def limited_a(tenant_a, fake_provider):
    """Tenant A with a day budget and token and request limits: every part of an admission applies."""
    register_fake_models(
        tenant_a, fake_provider.base_url, tokens_per_minute=1_000_000, requests_per_minute=1_000
    )
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(100))
    fake_provider.set_behaviour(Behaviour(text="A short answer."))
    return tenant_a


async def _spent_and_reserved(runtime, tenant) -> tuple[int, int]:
    catalog = await sync_to_async(load_catalog)(tenant, fresh=True)
    windows = budget_windows.windows_for_call(catalog, user_id=None, author_id=None)
    [usage] = await runtime.ledger.usage([w.window for w in windows])
    return usage.spent_micros, usage.reserved_micros


def _holds(prefix: str) -> int:
    """Budget holds in Redis now, read without giving the event loop a turn."""
    client = SyncRedis.from_url(settings.REDIS_URL)
    try:
        return sum(client.zcard(key) for key in client.scan_iter(match=f"{{{prefix}:budget}}:window:*:holds"))
    finally:
        client.close()


def _journal_entries(prefix: str) -> dict:
    client = SyncRedis.from_url(settings.REDIS_URL)
    try:
        return client.hgetall(f"{prefix}:calls:inflight:data")
    finally:
        client.close()


def test_a_call_waits_for_redis_twice_before_its_answer_and_once_after(limited_a, round_trips):
    async def scenario(runtime):
        await complete(request_for(limited_a), runtime=runtime)  # loads the scripts, builds the counters
        await runtime.background.drain()
        round_trips.clear()
        await complete(request_for(limited_a), runtime=runtime)
        await runtime.background.drain()

    # Model health and circuits as the router last read them (a stall of this machine must not expire them).
    run_with_runtime(scenario, fast_config(health_cache_seconds=60))
    assert round_trips == [
        ["EVALSHA", "EVALSHA", "HSET", "ZADD"],  # admission: token buckets, budget hold, journal entry
        ["HSET", "ZADD"],  # the answer's trace in the journal, before the caller has the answer
        ["EVALSHA", "EVALSHA"],  # settling: the spend, and the buckets brought to the tokens used
        ["EVALSHA"],  # the trace batch: the health samples of its calls
        ["HDEL", "ZREM"],  # and, once its traces are stored, their journal entries
    ]


def test_a_call_the_rate_limit_refuses_holds_no_budget_and_leaves_no_journal_entry(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, requests_per_minute=1)
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(100))
    fake_provider.set_behaviour(Behaviour(text="A short answer."))
    config = fast_config()

    async def scenario(runtime):
        await complete(request_for(tenant_a), runtime=runtime)
        await runtime.background.drain()
        spent_before = await _spent_and_reserved(runtime, tenant_a)
        with pytest.raises(GatewayError) as refused:
            await complete(request_for(tenant_a), runtime=runtime)
        journal_right_after = _journal_entries(config.key_prefix)
        holds_right_after = _holds(config.key_prefix)  # no await since the refusal: no bookkeeping ran
        await runtime.background.drain()
        return (
            refused.value,
            journal_right_after,
            holds_right_after,
            spent_before,
            await _spent_and_reserved(runtime, tenant_a),
        )

    error, journal_right_after, holds_right_after, before, after = run_with_runtime(scenario, config)
    assert error.code == "rate_limited"
    assert journal_right_after == {}  # cleared with the refusal, not at the next trace batch
    assert holds_right_after == 0  # the hold its admission made went back with the refusal
    assert before[0] > 0
    assert after == (before[0], 0)  # and nothing was spent


def test_a_call_the_budget_refuses_gives_back_its_tokens_and_leaves_no_journal_entry(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, tokens_per_minute=100_000)
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal("0.000001"))
    config = fast_config()

    async def scenario(runtime):
        with pytest.raises(GatewayError) as refused:
            await complete(request_for(tenant_a, max_tokens=500), runtime=runtime)
        journal_right_after = _journal_entries(config.key_prefix)
        await runtime.background.drain()
        level = await runtime.redis.hget(
            f"{{{config.key_prefix}:rate}}:rl:tenant:{tenant_a.pk}:tpm", "tokens"
        )
        return refused.value, journal_right_after, level

    error, journal_right_after, level = run_with_runtime(scenario, config)
    assert error.code == "budget_exceeded"
    assert journal_right_after == {}
    assert float(level) > 100_000 - 5  # the estimate the admission took came back (refill aside)


def test_a_script_redis_forgot_is_loaded_and_run_within_the_round_trip():
    async def scenario() -> list:
        redis = Redis.from_url(settings.REDIS_URL)
        try:
            script = redis.register_script("return {KEYS[1], ARGV[1]}")
            await redis.script_flush()  # as after a Redis restart: no script is known
            key = "test-round-trip:{x}"
            return await run_together(
                redis,
                [
                    ScriptCall(script, [key], ["one"]),
                    Command(("SET", key, json.dumps(1))),
                    Command(("GET", key)),
                ],
            )
        finally:
            await redis.aclose()

    replies = async_to_sync(scenario)()
    assert replies == [[b"test-round-trip:{x}", b"one"], True, b"1"]
