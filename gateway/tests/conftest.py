"""Fixtures shared by the tests of the gateway's Redis primitives (orchestrator/limits)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from redis.asyncio import Redis


@pytest.fixture
async def redis():
    client = Redis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis):
    """A key prefix of this test's own, so parallel runs never share budgets, buckets or circuits."""
    prefix = f"test-limits:{uuid.uuid4().hex}"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
