"""Redis Cluster runs a Lua script only when every key it names hashes to one slot. Each primitive's
scripts are run here against a real Redis with a client that records the keys of every script call,
and each call's keys must share a slot: CRC16 (XMODEM) of the key's hash tag, mod 16384."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings
from redis.asyncio import Redis

from gateway.budgets import BudgetLedger, BudgetWindow
from gateway.limits import Bucket, CircuitBreaker, ModelHealth, SlotSemaphore, TokenBucketLimiter
from gateway.limits._redis import hash_tag, key_space

pytestmark = pytest.mark.anyio

SLOTS = 16384
RESETS_AT = datetime(2099, 1, 1, tzinfo=UTC)


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    return crc16((hash_tag(key) or key).encode()) % SLOTS


class RecordingRedis(Redis):
    """A client that remembers the keys of each script it runs (EVALSHA and EVAL)."""

    script_keys: list[list[str]]

    async def execute_command(self, *args, **options):
        if args[0] in ("EVALSHA", "EVAL"):
            count = int(args[2])
            self.script_keys.append(
                [k.decode() if isinstance(k, bytes) else str(k) for k in args[3 : 3 + count]]
            )
        return await super().execute_command(*args, **options)


@pytest.fixture
async def recording():
    client = RecordingRedis.from_url(settings.REDIS_URL)
    client.script_keys = []
    yield client
    await client.aclose()


async def nothing_spent(window: BudgetWindow) -> int:
    return 0


def test_the_checksum_is_redis_clusters():
    # The reference value of the Redis Cluster specification, and slots Redis documents.
    assert crc16(b"123456789") == 0x31C3
    assert key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers") == key_slot("user1000")


def test_a_prefix_with_its_own_hash_tag_is_kept():
    assert key_space("maestro", "budget") == "{maestro:budget}"
    assert key_space("{maestro}", "budget") == "{maestro}:budget"
    assert hash_tag("{}maestro") is None  # an empty tag is none: Redis hashes the whole key
    assert key_slot(f"{key_space('{maestro}', 'budget')}:x") == key_slot(
        f"{key_space('{maestro}', 'rate')}:y"
    )


async def test_every_script_of_every_primitive_touches_keys_of_one_slot(recording, prefix):
    windows = [  # a call under a tenant's, a user's and an author's budget at once
        BudgetWindow(key=key, limit_micros=1_000_000, resets_at=RESETS_AT, label=key)
        for key in ("t:1:b:1:2026-12-01", "t:1:b:2:2026-12-01", "t:1:b:3:2026-12")
    ]
    ledger = BudgetLedger(recording, prefix, load_spent=nothing_spent)
    await ledger.reserve("call-1", windows, wanted_micros=900, minimum_micros=10, ttl_seconds=60)  # rebuilds
    await ledger.settle("call-1", 400)
    await ledger.reserve("call-2", windows[:2], wanted_micros=900, minimum_micros=10, ttl_seconds=60)
    await ledger.release("call-2")
    await ledger.usage(windows)

    limiter = TokenBucketLimiter(recording, prefix)
    buckets = [  # as the gateway takes them: the tenant's and its API key's, tokens and requests
        Bucket.per_minute(key, 1000, label=key)
        for key in ("rl:tenant:1:tpm", "rl:tenant:1:rpm", "rl:key:7:tpm", "rl:key:7:rpm")
    ]
    await limiter.acquire(buckets, [100, 1, 100, 1])
    await limiter.adjust(buckets[0], -20)

    breaker = CircuitBreaker(recording, prefix, failure_threshold=1)
    await breaker.allow("model:1")
    await breaker.record_failure("model:1")
    await breaker.record_success("model:1")
    await breaker.states(["model:1", "model:2", "model:3"])

    health = ModelHealth(recording, prefix)
    await health.record("model:1", ok=True, latency_s=1.0, ttft_s=0.2, output_tokens=50)
    await health.snapshots(["model:1", "model:2", "model:3"])

    slots = SlotSemaphore(recording, prefix)
    slot = await slots.acquire("model:1", limit=1, timeout=1)
    await slots.held("model:1")
    await slot.release()

    calls = recording.script_keys
    assert len(calls) >= 17  # every call above ran at least one script
    spread = {tuple(keys): {key_slot(key) for key in keys} for keys in calls}
    assert {keys: slots for keys, slots in spread.items() if len(slots) > 1} == {}
