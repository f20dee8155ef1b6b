"""Fixtures shared by the gateway's tests: Redis for its primitives (limits, budgets), the local embedder."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.embeddings import get_embedder


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
    keys = [key async for key in redis.scan_iter(match=f"*{prefix}:*")]  # keys are "{<prefix>:<family>}:..."
    if keys:
        await redis.delete(*keys)


@pytest.fixture(scope="session")
def local_embedder():
    """The real all-MiniLM-L6-v2, loaded once for the whole session (the default backend)."""
    embedder = get_embedder()
    assert embedder.model_id == "local/all-MiniLM-L6-v2"
    return embedder
