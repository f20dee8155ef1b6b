"""Per-event-loop resources of the gateway: one httpx client and one Redis client each.

httpx and redis.asyncio connection pools belong to the loop that created them,
and `async_to_sync` (used by Django views and prefork Celery tasks) may run each
call on a different loop; so resources are kept per loop and closed with it.
"""

from __future__ import annotations

import asyncio
import contextvars
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

from common.asyncio_http import AsyncioTransport
from common.net import AsyncGuardedTransport
from common.redis import async_redis_client
from gateway.background import Background
from gateway.budgets import BudgetLedger
from gateway.budgets.types import BudgetWindow
from gateway.budgets.windows import spent_in_window
from gateway.limits import CircuitBreaker, ModelHealth, SlotSemaphore, TokenBucketLimiter
from gateway.resilience import RetryPolicy, TimeoutPolicy


@dataclass
class GatewayConfig:
    """Tunables, from settings.MAESTRO_GATEWAY; tests and benchmarks pass their own."""

    key_prefix: str = "maestro"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    reservation_ttl_seconds: int = 900
    settled_record_seconds: float = 60  # a settled reservation's record, for a repeated settle
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
    # Models with a concurrency limit: how long a call waits in line for a slot before trying the next
    # model (no provider timeout runs meanwhile), and how long a dead process's slot stays taken.
    slot_wait_seconds: float = 300.0
    slot_lease_seconds: float = 30.0

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
    slots: SlotSemaphore | None = None  # per-model concurrency slots (LLMModel.max_concurrency)
    # For tenants' own providers: connects only to addresses the outbound-URL guard checked (common/net.py).
    guarded_http: httpx.AsyncClient | None = None
    rng: random.Random = field(default_factory=random.Random)
    _states: dict[str, tuple[float, object, object]] = field(default_factory=dict)
    _budget_fractions: dict[tuple[str, ...], tuple[float, float]] = field(default_factory=dict)
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

    async def budget_left_fraction(self, windows: list[BudgetWindow]) -> float:
        """What is left of the tightest of `windows` (0 to 1), for the router's "budget low: one tier
        down", cached as briefly as model health. Only the routing preference reads this: every call's
        reservation still checks each limit exactly, in one script."""
        key = tuple(w.key for w in windows)
        now = time.monotonic()
        cached = self._budget_fractions.get(key)
        if cached is not None and now - cached[0] <= self.config.health_cache_seconds:
            return cached[1]
        usage = await self.ledger.usage(windows)
        fraction = min(
            max(0.0, 1 - (u.spent_micros + u.reserved_micros) / u.limit_micros) if u.limit_micros else 0.0
            for u in usage
        )
        if len(self._budget_fractions) >= 10_000:  # one entry per tenant/user/author mix: bounded
            self._budget_fractions.clear()
        self._budget_fractions[key] = (now, fraction)
        return fraction

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
        if self.guarded_http is not None:
            await self.guarded_http.aclose()
        await self.redis.aclose()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~0.1 s, once per client otherwise."""
    return ssl.create_default_context(cafile=certifi.where())


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. The provider clients are shared by every tenant's calls: a
    cookie one provider answer set would go out with the next call to that host, whoever makes it.
    Keeping none also saves httpx's cookie parsing on every response (about 2% of a call's CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _provider_client(**options) -> httpx.AsyncClient:
    client = httpx.AsyncClient(**options)
    client._cookies = _NoCookies()  # httpx's `cookies` setter would copy it into a plain jar
    return client


def build_runtime(config: GatewayConfig, redis_url: str | None = None) -> Runtime:
    # A plain pool sized for the calls in flight: redis-py's blocking pool wakes every waiter on each
    # release, which with a thousand concurrent calls costs more CPU than the calls themselves.
    client = async_redis_client(url=redis_url, max_connections=config.redis_connections)
    prefix = config.key_prefix
    health = ModelHealth(client, prefix=prefix)
    per_client = max(1, config.max_connections // config.http_clients)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    # Adapters set the real per-call deadlines; this default only guards against a forgotten one.
    timeout = httpx.Timeout(600.0, connect=10.0)
    return Runtime(
        config=config,
        http_clients=[
            _provider_client(
                transport=AsyncioTransport(verify=_tls_context(), limits=limits), timeout=timeout
            )
            for _ in range(config.http_clients)
        ],
        redis=client,
        ledger=BudgetLedger(
            client,
            prefix=prefix,
            load_spent=sync_to_async(spent_in_window),
            settled_record_seconds=config.settled_record_seconds,
        ),
        limiter=TokenBucketLimiter(client, prefix=prefix),
        breaker=CircuitBreaker(
            client,
            prefix=prefix,
            failure_threshold=config.circuit_failure_threshold,
            window_seconds=config.circuit_window_seconds,
            cooldown_seconds=config.circuit_cooldown_seconds,
        ),
        health=health,
        background=Background(flush_seconds=config.trace_flush_seconds, health=health),
        slots=SlotSemaphore(client, prefix, lease_seconds=config.slot_lease_seconds),
        guarded_http=_provider_client(
            transport=AsyncGuardedTransport(allow_private=False, verify=_tls_context(), limits=limits),
            timeout=timeout,
        ),
    )


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


def current_runtime() -> Runtime:
    """The runtime of the running event loop, made on first use (long-lived async workers)."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        runtime = _runtimes[loop] = build_runtime(GatewayConfig.from_settings())
    return runtime


# Loops that live as long as their process: an ASGI server's (config/asgi.py marks it at lifespan
# startup and drains it at shutdown). Any other loop may end with the request that made it.
_serving_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


async def start_serving() -> Runtime:
    """Mark the running loop as an ASGI server's and make its runtime, once per process and loop."""
    _serving_loops.add(asyncio.get_running_loop())
    runtime = current_runtime()
    runtime.background.run_in(contextvars.copy_context())
    return runtime


def serving_runtime() -> Runtime | None:
    """The process-wide runtime when running on a server's loop, else None (the caller then makes a
    runtime for its call and closes it, as `complete_sync` does, so nothing outlives its loop)."""
    return current_runtime() if asyncio.get_running_loop() in _serving_loops else None


async def stop_serving() -> None:
    """Drain what calls left to do after their answers (settles, traces), then close the runtime."""
    loop = asyncio.get_running_loop()
    _serving_loops.discard(loop)
    runtime = _runtimes.pop(loop, None)
    if runtime is not None:
        await runtime.aclose()
