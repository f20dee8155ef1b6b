"""Per-event-loop resources of the gateway: one httpx client and one Redis client each.

httpx and redis.asyncio connection pools belong to the loop that created them,
and `async_to_sync` (used by Django views and prefork Celery tasks) may run each
call on a different loop; so resources are kept per loop and closed with it.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from orchestrator.gateway.budgets import spent_in_window
from orchestrator.gateway.resilience import RetryPolicy, TimeoutPolicy
from orchestrator.limits import BudgetLedger, CircuitBreaker, ModelHealth, TokenBucketLimiter


@dataclass
class GatewayConfig:
    """Tunables, from settings.MAESTRO_GATEWAY; tests and benchmarks pass their own."""

    key_prefix: str = "maestro"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    reservation_ttl_seconds: int = 900
    min_output_tokens: int = 64  # a call that cannot afford this much output is refused
    default_max_tokens: int = 800
    max_connections: int = 2000
    circuit_failure_threshold: int = 5
    circuit_window_seconds: float = 30
    circuit_cooldown_seconds: float = 20

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        values = dict(getattr(settings, "MAESTRO_GATEWAY", {}))
        if "retry" in values:
            values["retry"] = RetryPolicy(**values["retry"])
        if "timeouts" in values:
            values["timeouts"] = TimeoutPolicy(**values["timeouts"])
        return cls(**values)


@dataclass
class Runtime:
    config: GatewayConfig
    http: httpx.AsyncClient
    redis: aioredis.Redis
    ledger: BudgetLedger
    limiter: TokenBucketLimiter
    breaker: CircuitBreaker
    health: ModelHealth
    rng: random.Random = field(default_factory=random.Random)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()


def build_runtime(config: GatewayConfig, redis_url: str | None = None) -> Runtime:
    client = aioredis.Redis.from_url(redis_url or settings.REDIS_URL, max_connections=512)
    prefix = config.key_prefix
    limits = httpx.Limits(
        max_connections=config.max_connections, max_keepalive_connections=config.max_connections
    )
    return Runtime(
        config=config,
        # Adapters set the real per-call deadlines; this default only guards against a forgotten one.
        http=httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0, connect=10.0)),
        redis=client,
        ledger=BudgetLedger(client, prefix=prefix, load_spent=sync_to_async(spent_in_window)),
        limiter=TokenBucketLimiter(client, prefix=prefix),
        breaker=CircuitBreaker(
            client,
            prefix=prefix,
            failure_threshold=config.circuit_failure_threshold,
            window_seconds=config.circuit_window_seconds,
            cooldown_seconds=config.circuit_cooldown_seconds,
        ),
        health=ModelHealth(client, prefix=prefix),
    )


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


def current_runtime() -> Runtime:
    """The runtime of the running event loop, made on first use (long-lived async workers)."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        runtime = _runtimes[loop] = build_runtime(GatewayConfig.from_settings())
    return runtime
