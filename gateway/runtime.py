"""Per-event-loop resources of the gateway: one httpx client and one Redis client each.

httpx and redis.asyncio connection pools belong to the loop that created them,
and `async_to_sync` (used by Django views and prefork Celery tasks) may run each
call on a different loop; so resources are kept per loop and closed with it.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
import weakref
from dataclasses import dataclass, field

import certifi
import httpx
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from common.redis import async_redis_client
from gateway.background import Background
from gateway.budgets import BudgetLedger
from gateway.budgets.windows import spent_in_window
from gateway.limits import CircuitBreaker, ModelHealth, TokenBucketLimiter
from gateway.resilience import RetryPolicy, TimeoutPolicy


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
    redis_connections: int = 2000
    http_clients: int = 16  # shards of the connection pool, see Runtime.http
    circuit_failure_threshold: int = 5
    circuit_window_seconds: float = 30
    circuit_cooldown_seconds: float = 20
    trace_flush_seconds: float = 0.05  # 0: insert each trace before the call returns
    health_cache_seconds: float = 0.5  # how stale the router's view of model health may be

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
    http_clients: list[httpx.AsyncClient]
    redis: aioredis.Redis
    ledger: BudgetLedger
    limiter: TokenBucketLimiter
    breaker: CircuitBreaker
    health: ModelHealth
    background: Background
    rng: random.Random = field(default_factory=random.Random)
    _states: dict[str, tuple[float, object, object]] = field(default_factory=dict)
    _refreshing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _next_client: int = 0

    async def model_states(self, keys: list[str]) -> tuple[list, dict]:
        """Health snapshots and circuit states for the router, cached briefly per model: the router
        needs a recent picture, while each attempt still asks the breaker itself before calling."""
        ttl = self.config.health_cache_seconds
        stale = [k for k in keys if k not in self._states or time.monotonic() - self._states[k][0] > ttl]
        if stale:
            async with self._refreshing:  # single flight: a burst of calls makes one fetch
                now = time.monotonic()
                stale = [k for k in stale if k not in self._states or now - self._states[k][0] > ttl]
                if stale:
                    health = await self.health.snapshots(stale)
                    circuits = await self.breaker.states(stale)
                    for key in stale:
                        self._states[key] = (now, health.get(key), circuits.get(key))
        return [self._states[k][1] for k in keys], {k: self._states[k][2] for k in keys}

    @property
    def http(self) -> httpx.AsyncClient:
        """One of several clients, in turn: httpcore's pool does work proportional to its open
        connections on every request, so a thousand streams in one pool cost seconds of CPU."""
        self._next_client = (self._next_client + 1) % len(self.http_clients)
        return self.http_clients[self._next_client]

    def forget_state(self, key: str) -> None:
        self._states.pop(key, None)

    async def aclose(self) -> None:
        await self.background.drain()
        for client in self.http_clients:
            await client.aclose()
        await self.redis.aclose()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~0.1 s, once per client otherwise."""
    return ssl.create_default_context(cafile=certifi.where())


def build_runtime(config: GatewayConfig, redis_url: str | None = None) -> Runtime:
    # A plain pool sized for the calls in flight: redis-py's blocking pool wakes every waiter on each
    # release, which with a thousand concurrent calls costs more CPU than the calls themselves.
    client = async_redis_client(url=redis_url, max_connections=config.redis_connections)
    prefix = config.key_prefix
    per_client = max(1, config.max_connections // config.http_clients)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    # Adapters set the real per-call deadlines; this default only guards against a forgotten one.
    timeout = httpx.Timeout(600.0, connect=10.0)
    return Runtime(
        config=config,
        http_clients=[
            httpx.AsyncClient(limits=limits, timeout=timeout, verify=_tls_context())
            for _ in range(config.http_clients)
        ],
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
        background=Background(flush_seconds=config.trace_flush_seconds),
    )


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


def current_runtime() -> Runtime:
    """The runtime of the running event loop, made on first use (long-lived async workers)."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        runtime = _runtimes[loop] = build_runtime(GatewayConfig.from_settings())
    return runtime
