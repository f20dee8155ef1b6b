"""Semantic cache: the decision's quality on pairs it was never fitted on, and the latency of a hit.

    python bench/bench_semantic_cache.py [--lookups 200] [--threshold 0.78] [--skip-quality] [--skip-latency]

1. Quality, through `manage.py cache_eval`'s evaluation (the production lookup: `cache_store` then
   `cache_lookup`, one scope per pair) on
   - bench/data/cache_pairs_heldout.jsonl: the held-out families of the generated pairs
     (gateway/cache/pairs.py; the verifier was fitted on cache_pairs_train.jsonl only), and
   - bench/data/semantic_cache_pairs.jsonl: the repository's 364 hand-written pairs (never used to fit).
2. Latency of a semantic hit end to end: `gateway.complete` for a paraphrase of a stored request
   (purpose "critique", cached semantically), the fake provider over HTTP for the misses that fill the
   cache; each timed text is looked up once (a repeat would find its vector memoised), then repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import _env

_env.setup(database="maestro_bench_semcache")

DATA = Path(__file__).resolve().parent / "data"
HELDOUT = DATA / "cache_pairs_heldout.jsonl"
HANDWRITTEN = DATA / "semantic_cache_pairs.jsonl"
GOAL_HIT, GOAL_FALSE = 0.80, 0.01


def _handwritten_pairs():
    from gateway.cache.evaluation import Pair

    rows = [json.loads(line) for line in HANDWRITTEN.read_text().splitlines() if line.strip()]
    return [Pair(r["a"], r["b"], r["label"] == "hit", r["category"]) for r in rows]


def quality(threshold: float | None) -> None:
    from gateway.cache.evaluation import evaluate, format_report, read_pairs
    from tenants.models import Tenant

    Tenant.objects.filter(slug="bench-cache-eval").delete()
    tenant = Tenant.objects.create(name="bench-cache-eval", slug="bench-cache-eval")
    for title, pairs in (
        (f"Held-out generated pairs ({HELDOUT.name})", read_pairs(HELDOUT)),
        (f"Hand-written pairs ({HANDWRITTEN.name})", _handwritten_pairs()),
    ):
        started = time.perf_counter()
        result = evaluate(tenant_id=tenant.pk, pairs=pairs, threshold=threshold)
        met = (result["hit_rate"] or 0) >= GOAL_HIT and (result["false_hit_rate"] or 0) <= GOAL_FALSE
        print(f"\n1. {title}: {time.perf_counter() - started:.0f} s")
        print(format_report(result))
        print(
            f"   goal (>= {GOAL_HIT:.0%} hits, <= {GOAL_FALSE:.0%} false hits): {'met' if met else 'NOT met'}"
        )
    tenant.delete()


def latency(lookups: int) -> None:
    import asyncio
    from decimal import Decimal

    import gateway
    from gateway import GatewayConfig, GatewayRequest, build_runtime
    from gateway.cache.evaluation import read_pairs
    from gateway.catalog import forget_catalog
    from gateway.models import LLMModel, ProviderEndpoint, TenantPolicy
    from gateway.providers.base import Message
    from tenants.context import tenant_scope
    from tenants.models import Tenant
    from testing.fake_provider import FakeProvider

    pairs = [p for p in read_pairs(HELDOUT) if p.same_answer and p.a.lower() != p.b.lower()]
    with FakeProvider.start() as fake:
        Tenant.objects.filter(slug="bench-semcache-gw").delete()
        tenant = Tenant.objects.create(name="bench-semcache-gw", slug="bench-semcache-gw")
        with tenant_scope(tenant):
            TenantPolicy.objects.create(tenant=tenant, tokens_per_minute=0, requests_per_minute=0)
            provider = ProviderEndpoint.objects.create(name="fake", kind="openai", base_url=fake.base_url)
            LLMModel.objects.create(
                provider=provider,
                alias="bench-small",
                model_name="fake-small",
                tier="small",
                input_price_per_mtok=Decimal(1),
                output_price_per_mtok=Decimal(2),
                context_window=16000,
                max_output_tokens=2048,
            )
        forget_catalog()

        def request(text: str) -> GatewayRequest:
            return GatewayRequest(
                tenant=tenant, purpose="critique", messages=[Message("user", text)], max_tokens=64
            )

        async def run() -> dict[str, list[float]]:
            runtime = build_runtime(GatewayConfig(key_prefix=f"bench-semcache-{time.time_ns()}"))
            chosen = pairs[: lookups + 20]
            for pair in chosen:
                await gateway.complete(request(pair.a), runtime=runtime)  # a miss: calls the provider, stores
            await asyncio.sleep(2)  # the stores happen in the background after each answer
            timings: dict[str, list[float]] = {"first": [], "repeat": [], "miss": []}
            for index, pair in enumerate(chosen):
                started = time.perf_counter()
                response = await gateway.complete(request(pair.b), runtime=runtime)
                elapsed = (time.perf_counter() - started) * 1000
                if index >= 20:  # the first 20 warm up connections and the model
                    timings["first" if response.cache_hit else "miss"].append(elapsed)
            for pair in chosen[20:]:
                started = time.perf_counter()
                response = await gateway.complete(request(pair.b), runtime=runtime)
                if response.cache_hit:
                    timings["repeat"].append((time.perf_counter() - started) * 1000)
            await runtime.aclose()
            return timings

        timings = asyncio.run(run())
    print(f"\n2. Latency through gateway.complete, {lookups} paraphrases of stored requests (ms)")
    print(f"   load average: {Path('/proc/loadavg').read_text().split()[:3]}, {os.cpu_count()} cores")
    for name, label in (
        ("first", "semantic hit, text new to the process"),
        ("repeat", "semantic hit, vector memoised"),
        ("miss", "miss (refused or below threshold)"),
    ):
        if timings[name]:
            print(f"   {label:40} {_env.summary(timings[name])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--threshold", type=float, default=None, help="default: the tenant default, 0.78")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.threshold)
    if not args.skip_latency:
        latency(args.lookups)


if __name__ == "__main__":
    main()
