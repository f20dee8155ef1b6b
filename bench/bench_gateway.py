"""Gateway benchmarks, measured side by side in one run against the fake provider (its own process).

    python bench/bench_gateway.py [--calls 400] [--streams 1000] [--budget-calls 500]

1. Overhead: the same request sent directly with httpx and through the gateway with the tenant's
   semantic cache off (the overhead figure), interleaved with a call of a tenant whose cache answers
   (a cache hit: no provider call, a separate line).
2. Concurrency: N streaming calls in flight in one process with a 2-second provider latency.
3. Budget exactness: concurrent calls from 4 processes against a limit that allows 100 of them.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
import uuid
from decimal import Decimal

import _env

_env.setup()

import httpx  # noqa: E402

import gateway  # noqa: E402
from gateway import GatewayConfig, GatewayError, GatewayRequest, build_runtime  # noqa: E402
from gateway.catalog import forget_catalog  # noqa: E402
from gateway.models import Budget, LLMModel, ProviderEndpoint, TenantPolicy, Trace  # noqa: E402
from gateway.providers.base import Message  # noqa: E402
from tenants.context import tenant_scope  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from testing.fake_provider import FakeProvider  # noqa: E402
from testing.fake_server import Behaviour  # noqa: E402

PROMPT = "Write a short LinkedIn post about onboarding new customers in B2B SaaS."


def make_tenant(base_url: str, slug: str, *, cache: bool = False) -> Tenant:
    tenant = Tenant.objects.create(name=slug, slug=slug)
    with tenant_scope(tenant):
        provider = ProviderEndpoint.objects.create(name="fake", kind="openai", base_url=base_url)
        LLMModel.objects.create(
            provider=provider,
            alias="bench-standard",
            model_name="fake-standard",
            tier="standard",
            input_price_per_mtok=Decimal(3),
            output_price_per_mtok=Decimal(15),
            context_window=16000,
            max_output_tokens=2048,
        )
        TenantPolicy.objects.create(
            tenant=tenant, tokens_per_minute=0, requests_per_minute=0, cache_enabled=cache
        )
    return tenant


def request(tenant: Tenant, **fields) -> GatewayRequest:
    return GatewayRequest(
        tenant=tenant, purpose="post", messages=[Message("user", PROMPT)], max_tokens=64, **fields
    )


async def overhead(tenant: Tenant, cached: Tenant, base_url: str, calls: int) -> None:
    runtime = build_runtime(GatewayConfig(key_prefix=f"bench-{uuid.uuid4().hex[:8]}"))
    body = {"model": "fake-standard", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}
    direct, through, added, hits = [], [], [], []
    async with httpx.AsyncClient() as client:
        for _ in range(20):  # warm-up: connections, scripts, catalog cache, the cached answer
            await client.post(f"{base_url}/chat/completions", json=body)
            await gateway.complete(request(tenant), runtime=runtime)
            await gateway.complete(request(cached), runtime=runtime)
        await runtime.background.drain()
        for _ in range(calls):
            started = time.perf_counter()
            (await client.post(f"{base_url}/chat/completions", json=body)).raise_for_status()
            direct_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            response = await gateway.complete(request(tenant), runtime=runtime)
            gateway_ms = (time.perf_counter() - started) * 1000
            if response.cache_hit:
                raise SystemExit("the overhead tenant's cache answered: the figure would be a cache hit")
            started = time.perf_counter()
            hit = await gateway.complete(request(cached), runtime=runtime)
            hits.append((time.perf_counter() - started) * 1000)
            if not hit.cache_hit:
                raise SystemExit("the cached tenant's call missed its cache")
            direct.append(direct_ms)
            through.append(gateway_ms)
            added.append(gateway_ms - direct_ms)
    await runtime.aclose()
    print(f"\n1. Overhead per call, {calls} interleaved rounds, in process (ms)")
    print(f"   direct httpx               {_env.summary(direct)}")
    print(f"   through gateway, cache off {_env.summary(through)}")
    print(f"   added                      {_env.summary(added)}   (goal: median < 1, p99 < 5)")
    print(f"   cache hit (no provider)    {_env.summary(hits)}")


async def direct_streams(base_url: str, streams: int) -> float:
    """The same streams without the gateway, with the same pool sharding, for a side-by-side figure."""
    body = {
        "model": "fake-standard",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 64,
        "stream": True,
    }
    limits = httpx.Limits(max_connections=streams // 16 + 1, max_keepalive_connections=streams // 16 + 1)
    clients = [httpx.AsyncClient(limits=limits, timeout=60) for _ in range(16)]

    async def one(index: int) -> None:
        async with clients[index % 16].stream("POST", f"{base_url}/chat/completions", json=body) as response:
            async for _line in response.aiter_lines():
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(streams)))
    for client in clients:
        await client.aclose()
    return time.perf_counter() - started


async def concurrency(tenant: Tenant, base_url: str, fake: FakeProvider, streams: int) -> None:
    fake.set_behaviour(Behaviour(first_token_delay=2.0, output_tokens=20))
    runtime = build_runtime(
        GatewayConfig(key_prefix=f"bench-{uuid.uuid4().hex[:8]}", max_connections=streams + 10)
    )
    await gateway.complete(request(tenant), runtime=runtime)  # warm-up
    latencies: list[float] = []
    failures: list[str] = []

    async def one() -> None:
        started = time.perf_counter()
        try:
            async for _event in gateway.stream(request(tenant), runtime=runtime):
                pass
            latencies.append((time.perf_counter() - started) * 1000)
        except GatewayError as exc:
            failures.append(exc.code)

    direct_wall = await direct_streams(base_url, streams)
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(streams)))
    wall = time.perf_counter() - started
    await runtime.aclose()
    print(
        f"\n2. {streams} concurrent streams, provider first token after 2.0 s: "
        f"direct httpx (same sharded pools) {direct_wall:.2f} s wall"
    )
    print(f"   through the gateway: {streams} concurrent streaming calls in one process")
    print(
        f"   wall time {wall:.2f} s, completed {len(latencies)}, failed {len(failures)} {set(failures) or ''}"
    )
    print(f"   per-call latency (ms) {_env.summary(latencies)}")
    print(
        f"   added over the 2,000 ms provider latency: "
        f"median {_env.percentile(latencies, 0.5) - 2000:.1f} ms, "
        f"p99 {_env.percentile(latencies, 0.99) - 2000:.1f} ms"
    )
    fake.reset()


def _budget_worker(args) -> tuple[int, int]:
    tenant_id, calls, prefix = args
    _env.setup()

    tenant = Tenant.objects.get(pk=tenant_id)

    async def run() -> tuple[int, int]:
        runtime = build_runtime(GatewayConfig(key_prefix=prefix))
        results = await asyncio.gather(
            *(gateway.complete(request(tenant), runtime=runtime) for _ in range(calls)),
            return_exceptions=True,
        )
        await runtime.aclose()
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        refused = sum(1 for r in results if isinstance(r, GatewayError) and r.code == "budget_exceeded")
        return ok, refused

    return asyncio.run(run())


def budget_exactness(base_url: str, fake: FakeProvider, calls: int) -> None:
    tenant = make_tenant(base_url, f"bench-budget-{uuid.uuid4().hex[:6]}")
    fake.set_behaviour(Behaviour(output_tokens=64, headers_delay=0.05))
    # A call costs about input ~20 x 3 + 64 x 15 = ~1,020 micros; allow 100 of them.
    per_call = 20 * 3 + 64 * 15
    limit_micros = per_call * 100
    with tenant_scope(tenant):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(limit_micros) / 1_000_000)
    forget_catalog()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    processes = 4
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        outcomes = pool.map(_budget_worker, [(tenant.pk, calls // processes, prefix)] * processes)
    with tenant_scope(tenant):
        spent = sum(Trace.objects.values_list("cost_micros", flat=True))
    ok = sum(o for o, _ in outcomes)
    refused = sum(r for _, r in outcomes)
    print(
        f"\n3. Budget exactness: {calls} concurrent calls from {processes} processes, "
        f"limit {limit_micros} micros"
    )
    print(
        f"   succeeded {ok}, refused for budget {refused}, spent {spent} micros "
        f"({spent / limit_micros:.1%} of the limit), "
        f"overspend {max(0, spent - limit_micros)} micros (goal: 0)"
    )
    fake.reset()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--budget-calls", type=int, default=500)
    parser.add_argument("--overhead-only", action="store_true", help="only part 1")
    args = parser.parse_args()
    with FakeProvider.start(in_subprocess=True) as fake:
        tenant = make_tenant(fake.base_url, f"bench-{uuid.uuid4().hex[:6]}")
        cached = make_tenant(fake.base_url, f"bench-cached-{uuid.uuid4().hex[:6]}", cache=True)
        asyncio.run(overhead(tenant, cached, fake.base_url, args.calls))
        if args.overhead_only:
            return
        asyncio.run(concurrency(tenant, fake.base_url, fake, args.streams))
        budget_exactness(fake.base_url, fake, args.budget_calls)


if __name__ == "__main__":
    main()
