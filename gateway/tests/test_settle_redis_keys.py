"""What a call leaves in Redis once it is settled: its reservation record only briefly, so the memory
of many calls is bounded by the calls of the last minute (README: "Serving", bytes per call)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway import complete
from gateway.catalog import forget_catalog
from gateway.models import Budget
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

CALLS = 30


@pytest.fixture
def budgeted_a(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(100))
    fake_provider.set_behaviour(Behaviour(text="A short answer."))
    return tenant_a


def _calls_then_keys(tenant, config, *, wait_seconds: float) -> dict[str, int]:
    """Make CALLS calls, wait, then return each reservation record left and its TTL in ms."""

    async def scenario(runtime) -> dict[str, int]:
        for _ in range(CALLS):
            await complete(request_for(tenant), runtime=runtime)
        await runtime.background.drain()  # every settle done
        await asyncio.sleep(wait_seconds)
        redis = Redis.from_url(settings.REDIS_URL)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{{{config.key_prefix}:budget}}:reservation:*")]
            return {key.decode(): await redis.pttl(key) for key in keys}
        finally:
            await redis.aclose()

    return run_with_runtime(scenario, config)


@pytest.mark.django_db
def test_settled_reservation_records_expire_within_a_minute_not_an_hour(budgeted_a):
    records = _calls_then_keys(budgeted_a, fast_config(), wait_seconds=0)
    assert len(records) == CALLS  # each call did reserve (the budget applies)
    assert all(0 < ttl <= 60_000 for ttl in records.values()), sorted(records.values())[-3:]


@pytest.mark.django_db
def test_no_per_call_key_is_left_once_the_settled_records_expire(budgeted_a):
    config = fast_config(settled_record_seconds=0.2)
    assert _calls_then_keys(budgeted_a, config, wait_seconds=0.5) == {}
