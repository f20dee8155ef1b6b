"""/metrics scraped after real gateway calls against the fake provider (real Redis and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

import gateway
from gateway import GatewayConfig, GatewayError
from gateway.cache import forget_cache_policy
from gateway.limits import CircuitBreaker
from gateway.models import SemanticCacheEntry
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from telemetry.observe import CallObservation, observe_call
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db
TOKEN = "test-metrics-token-0123456789abcdef"
Samples = dict[tuple[str, frozenset], float]


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.MAESTRO_METRICS_TOKEN = TOKEN


def scrape(client) -> Samples:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _complete(request):
    return run_with_runtime(lambda rt: gateway.complete(request, runtime=rt))


def _stream(request):
    async def scenario(runtime):
        return [event async for event in gateway.stream(request, runtime=runtime)]

    return run_with_runtime(scenario)


def test_metrics_need_the_bearer_token(client, settings):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert wrong.json()["error"]["code"] == "not_authenticated"
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    settings.MAESTRO_METRICS_TOKEN = None
    off = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert off.status_code == 404
    assert "MAESTRO_METRICS_TOKEN" in off.json()["error"]["message"]


def test_gateway_calls_show_up_in_the_scraped_series(client, tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, max_prompt_chars=500)
    before = scrape(client)
    fake_provider.set_behaviour(Behaviour(text="A crisp post.", input_tokens=1000))
    answers = [
        _complete(request_for(tenant_a)),
        _stream(request_for(tenant_a, "Stream a post."))[-1].response,
    ]
    with pytest.raises(GatewayError):
        _complete(request_for(tenant_a, "x" * 600))  # over max_prompt_chars: refused
    assert client.get("/healthz").status_code in (200, 503)
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("maestro_gateway_call_duration_seconds_count", model="standard-a", status="ok") == 2
    assert grew("maestro_gateway_ttft_seconds_count", model="standard-a") == 1  # the streamed one
    assert grew("maestro_gateway_tokens_total", model="standard-a", direction="input") == 2000
    output_tokens = sum(a.output_tokens for a in answers)
    assert output_tokens > 0
    assert grew("maestro_gateway_tokens_total", model="standard-a", direction="output") == output_tokens
    cost = float(sum(a.cost for a in answers))
    assert cost > 0
    assert grew("maestro_gateway_cost_total", model="standard-a") == pytest.approx(cost)
    assert grew("maestro_gateway_attempts_total", model="standard-a", outcome="ok") == 2
    assert grew("maestro_gateway_refusals_total", reason="input_too_large") == 1
    health = [grew("maestro_http_request_duration_seconds_count", method="GET", route="/healthz", status=code)
              for code in ("200", "503")]  # fmt: skip
    assert sum(health) == 1
    owner = str(tenant_a.pk)
    assert (
        "maestro_gateway_circuit_state",
        frozenset({"model": "standard-a", "owner": owner}.items()),
    ) in after
    assert value(after, "maestro_gateway_circuit_state", model="standard-a", owner=owner) == 0
    assert ("maestro_queue_depth", frozenset({"queue": settings.CELERY_TASK_DEFAULT_QUEUE}.items())) in after


def test_an_open_circuit_reads_as_2_at_scrape_time(client, tenant_a, fake_provider):
    models = register_fake_models(tenant_a, fake_provider.base_url)
    key = f"model:{models['premium'].pk}"
    config = GatewayConfig.from_settings()

    async def trip(open_it: bool) -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.REDIS_URL)
        try:
            breaker = CircuitBreaker(redis, prefix=config.key_prefix, failure_threshold=1)
            if open_it:
                await breaker.record_failure(key)
            else:
                keys = [k async for k in redis.scan_iter(match=f"*{config.key_prefix}:circuit*{key}*")]
                if keys:
                    await redis.delete(*keys)
        finally:
            await redis.aclose()

    asyncio.run(trip(True))
    try:
        samples = scrape(client)
    finally:
        asyncio.run(trip(False))
    assert value(samples, "maestro_gateway_circuit_state", model="premium-a", owner=str(tenant_a.pk)) == 2


def _wait_for_cache_entry(tenant, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            if SemanticCacheEntry.objects.exists():
                return
        time.sleep(0.05)
    raise AssertionError("the first answer was never stored in the cache")


def test_a_cache_hit_is_counted(client, tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=True)
    forget_cache_policy()
    before = scrape(client)
    first = _complete(request_for(tenant_a, "How do I cancel my subscription?"))
    _wait_for_cache_entry(tenant_a)  # the answer is stored by the call's background bookkeeping
    second = _complete(request_for(tenant_a, "How do I cancel my subscription?"))
    after = scrape(client)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    grew = {r: value(after, "maestro_gateway_cache_lookups_total", purpose="post", result=r)
            - value(before, "maestro_gateway_cache_lookups_total", purpose="post", result=r)
            for r in ("hit", "miss")}  # fmt: skip
    assert grew == {"hit": 1, "miss": 1}


def test_a_failing_collector_costs_only_its_own_series(client, monkeypatch):
    from telemetry import metrics

    def broken():
        raise RuntimeError("redis is down")
        yield  # a generator, as collectors are

    monkeypatch.setattr(metrics, "_collectors", [broken, *metrics._collectors])
    observe_call(
        CallObservation(
            call_id="c", tenant_id=1, tenant="t", purpose="probe", model="m", status="ok", error_code="",
            streamed=False, started_ns=0, latency_s=0.1, ttft_s=None, input_tokens=1, output_tokens=1,
            cost=0.0, cache_looked_up=False, cache_hit=False,
        ),
        parent=None,
    )  # fmt: skip
    samples = scrape(client)
    assert value(samples, "maestro_gateway_call_duration_seconds_count", model="m", status="ok") >= 1
