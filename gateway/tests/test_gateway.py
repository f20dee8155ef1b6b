"""The gateway end to end over real HTTP (the fake provider on loopback), real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

import gateway
from gateway import GatewayError
from gateway.budgets import windows as budgets
from gateway.catalog import forget_catalog, load_catalog
from gateway.limits import CircuitBreaker
from gateway.models import Budget, BudgetAlert, SemanticCacheEntry, TenantPolicy, Trace
from gateway.tests.clock import ManualClock
from gateway.tests.gateway_support import (
    fast_config,
    register_fake_models,
    request_for,
    run_with_runtime,
)
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_a(tenant_a, fake_provider):
    return register_fake_models(tenant_a, fake_provider.base_url)


def _complete(request, config=None):
    return run_with_runtime(lambda rt: gateway.complete(request, runtime=rt), config)


def _trace(tenant, call_id) -> Trace:
    with tenant_scope(tenant):
        return Trace.objects.get(pk=call_id)


def test_a_call_returns_text_usage_cost_and_writes_a_trace(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(text="A crisp post about onboarding.", input_tokens=1000))
    response = _complete(request_for(tenant_a, user_id=None))
    assert response.text == "A crisp post about onboarding."
    assert response.model == "standard-a"  # "post" is standard work
    assert (response.input_tokens, response.output_tokens) == (1000, 5)
    # 1000 x $3/M + 5 x $15/M = $0.003075
    assert response.cost == Decimal("0.003075")
    trace = _trace(tenant_a, response.call_id)
    assert trace.status == "ok"
    assert trace.cost_micros == 3075
    assert trace.model_alias == "standard-a"
    assert trace.routing["chain"][0] == "standard-a"
    assert trace.routing["reasons"]
    assert trace.attempts[0]["status"] == "ok"
    assert trace.prompt[0]["content"].startswith("Write a short post")


def test_simple_purposes_go_to_the_small_model_and_analysis_to_premium(tenant_a, models_a, fake_provider):
    small = _complete(request_for(tenant_a, "Thanks for sharing!", purpose="comment"))
    assert small.model == "small-a"
    hard = _complete(
        request_for(
            tenant_a, "Analyze our pricing strategy in depth and compare the trade-offs.", purpose="post"
        )
    )
    assert hard.model == "premium-a"


def test_rate_limited_model_is_retried_after_retry_after_never_immediately(tenant_a, models_a, fake_provider):
    fake_provider.enqueue(Behaviour(error="rate_limited", retry_after="0.3"), model="fake-standard")
    started = time.perf_counter()
    response = _complete(request_for(tenant_a))
    elapsed = time.perf_counter() - started
    assert response.model == "standard-a"
    assert elapsed >= 0.3
    # Between the refusal and the retry, not merely somewhere in the call (a slow set-up is no wait).
    refused, retried = fake_provider.requests(model="fake-standard")
    assert retried.received_at - refused.received_at >= 0.3
    trace = _trace(tenant_a, response.call_id)
    assert [a["status"] for a in trace.attempts] == ["rate_limited", "ok"]
    assert trace.attempts[0]["waited_s"] >= 0.3


def test_long_retry_after_degrades_to_a_smaller_model_instead_of_waiting(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(error="rate_limited", retry_after="30"), model="fake-standard")
    response = _complete(request_for(tenant_a))
    # Same tier on the other provider first, then smaller.
    assert response.model == "standard-b"
    # Nothing was waited out: one refused request, no retry of it, and no wait recorded before moving on.
    # (What the trace says rather than a stopwatch, which a stalled machine would stop too.)
    assert len(fake_provider.requests(model="fake-standard")) == 1
    trace = _trace(tenant_a, response.call_id)
    assert [(a["model"], a["status"], a["waited_s"]) for a in trace.attempts] == [
        ("standard-a", "rate_limited", 0.0),
        ("standard-b", "ok", 0.0),
    ]
    fake_provider.set_behaviour(Behaviour(error="rate_limited", retry_after="30"), model="fake-standard-b")
    assert _complete(request_for(tenant_a)).model == "small-a"


def test_server_errors_back_off_exponentially_with_jitter_then_fall_back(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(error="server_error"), model="fake-standard")
    response = _complete(request_for(tenant_a))
    assert response.model == "standard-b"
    trace = _trace(tenant_a, response.call_id)
    statuses = [a["status"] for a in trace.attempts]
    assert statuses == ["server_error", "server_error", "server_error", "ok"]
    waits = [a["waited_s"] for a in trace.attempts[:2]]
    assert all(wait > 0 for wait in waits)  # never immediately
    assert len(fake_provider.requests(model="fake-standard")) == 3


def test_bad_request_fails_fast_without_fallback(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(error="bad_request"), model="fake-standard")  # HTTP 400
    message = "standard-a: HTTP 400 invalid_request_error: Invalid request"
    with pytest.raises(GatewayError, match=f"^{re.escape(message)}$") as caught:
        _complete(request_for(tenant_a))
    assert (caught.value.code, caught.value.http_status) == ("provider_rejected", 422)
    # One request: not retried (no retry can fix it) and no fallback model asked.
    assert [r.model for r in fake_provider.requests()] == ["fake-standard"]
    trace = _trace(tenant_a, caught.value.call_id)
    assert (trace.status, trace.error_code, trace.error_message) == ("error", "provider_rejected", message)
    assert [(a["model"], a["status"], a["error"]) for a in trace.attempts] == [
        ("standard-a", "bad_request", "HTTP 400 invalid_request_error: Invalid request")
    ]


def test_a_content_refusal_fails_fast_without_fallback(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(refusal=True), model="fake-standard")
    message = "standard-a: the provider's content filter stopped the answer"
    with pytest.raises(GatewayError, match=f"^{re.escape(message)}$") as caught:
        _complete(request_for(tenant_a))
    assert (caught.value.code, caught.value.http_status) == ("content_refused", 422)
    assert [r.model for r in fake_provider.requests()] == ["fake-standard"]
    trace = _trace(tenant_a, caught.value.call_id)
    assert (trace.status, trace.error_code) == ("error", "content_refused")
    assert [a["status"] for a in trace.attempts] == ["content_refused"]


def test_prompt_too_long_for_a_model_goes_to_a_larger_context_window(tenant_a, models_a, fake_provider):
    # ~5,700 tokens: too long for small-a (4k window) even though "comment" is small work.
    response = _complete(request_for(tenant_a, "word " * 4_000, purpose="comment"))
    assert response.model in {"standard-a", "standard-b"}
    trace = _trace(tenant_a, response.call_id)
    assert "small-a" in trace.routing["excluded"]


def test_context_error_from_the_provider_moves_to_a_larger_window(tenant_a, models_a, fake_provider):
    fake_provider.enqueue(Behaviour(error="context_too_long"), model="fake-small")
    response = _complete(request_for(tenant_a, "Nice!", purpose="comment"))
    assert response.model in {"standard-a", "standard-b"}


def test_circuit_opens_after_repeated_failures_and_closes_after_a_good_probe(
    tenant_a, models_a, fake_provider
):
    config = fast_config()
    fake_provider.set_behaviour(Behaviour(error="unavailable"), model="fake-standard")
    clock = ManualClock()

    async def scenario(runtime):
        # The runtime's breaker, on the test's clock: however long this machine stalls, the cooldown
        # neither ends before the second call nor fails to have ended before the third.
        runtime.breaker = CircuitBreaker(
            runtime.redis,
            prefix=config.key_prefix,
            failure_threshold=config.circuit_failure_threshold,
            window_seconds=config.circuit_window_seconds,
            cooldown_seconds=config.circuit_cooldown_seconds,
            clock=clock,
        )
        await gateway.complete(request_for(tenant_a), runtime=runtime)  # 3 failures: circuit opens
        skipped = await gateway.complete(request_for(tenant_a), runtime=runtime)
        fake_provider.set_behaviour(Behaviour(text="back"), model="fake-standard")
        clock.advance(config.circuit_cooldown_seconds)
        # The router's view of the circuit is cached for health_cache_seconds of real time: let it
        # go stale (a longer stall only makes it staler).
        await asyncio.sleep(config.health_cache_seconds * 1.5)
        # The model's health still shows its failures, so the router ranks it last; asking for it by
        # name sends the half-open circuit its probe.
        recovered = await gateway.complete(request_for(tenant_a, model="standard-a"), runtime=runtime)
        await runtime.background.drain()  # the success is recorded after the answer is returned
        state = await runtime.breaker.state(f"model:{models_a['standard'].pk}")
        return skipped, recovered, state

    skipped, recovered, state = run_with_runtime(scenario, config)
    assert skipped.model == "standard-b"
    assert "standard-a" in _trace(tenant_a, skipped.call_id).routing["excluded"]
    assert recovered.model == "standard-a"
    assert state == "closed"


def test_a_stream_cut_midway_restarts_on_the_fallback_and_never_returns_a_truncated_answer(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(output_tokens=20, cut_after_chunks=5), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text="complete answer from b"), model="fake-standard-b")

    async def scenario(runtime):
        return [event async for event in gateway.stream(request_for(tenant_a), runtime=runtime)]

    events = run_with_runtime(scenario)
    kinds = [e.kind for e in events]
    assert "restart" in kinds
    last_restart = len(kinds) - 1 - kinds[::-1].index("restart")
    text_after = "".join(e.text for e in events[last_restart:] if e.kind == "delta")
    assert text_after == "complete answer from b"
    done = events[-1]
    assert done.kind == "done"
    assert done.response.text == "complete answer from b"
    assert done.response.model == "standard-b"


def test_a_hung_stream_is_cut_by_the_gap_timeout(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(output_tokens=20, hang_after_chunks=3), model="fake-standard")

    async def scenario(runtime):
        return [event async for event in gateway.stream(request_for(tenant_a), runtime=runtime)]

    events = run_with_runtime(scenario)
    assert events[-1].response.model == "standard-b"
    trace = _trace(tenant_a, events[-1].response.call_id)
    # The gap between chunks cut it, not the total deadline nor the first-token one (the trace says
    # which, where a stopwatch around the call would also count a stall of this machine).
    assert trace.attempts[0]["status"] == "timeout"
    assert re.fullmatch(r"between_chunks timeout \(0\.[345]s\) exceeded", trace.attempts[0]["error"])


def test_streamed_usage_is_recorded_and_ttft_measured(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(output_tokens=12, first_token_delay=0.05, input_tokens=400))

    async def scenario(runtime):
        return [event async for event in gateway.stream(request_for(tenant_a), runtime=runtime)]

    events = run_with_runtime(scenario)
    deltas = [e for e in events if e.kind == "delta"]
    assert len(deltas) >= 2
    response = events[-1].response
    assert (response.input_tokens, response.output_tokens, response.usage_estimated) == (400, 12, False)
    trace = _trace(tenant_a, response.call_id)
    assert trace.streamed
    assert trace.ttft_ms >= 50
    assert trace.cost_micros == 400 * 3 + 12 * 15


def test_a_stream_without_usage_is_still_charged_by_estimate(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(output_tokens=30, include_usage=False))

    async def scenario(runtime):
        return [event async for event in gateway.stream(request_for(tenant_a), runtime=runtime)]

    response = run_with_runtime(scenario)[-1].response
    assert response.usage_estimated
    assert response.output_tokens > 0
    assert _trace(tenant_a, response.call_id).cost_micros > 0


def test_prompt_over_the_tenant_limit_is_refused_before_any_provider_call(tenant_a, models_a, fake_provider):
    with tenant_scope(tenant_a):
        TenantPolicy.objects.update(max_prompt_chars=100)
    forget_catalog()
    message = "The prompt has 101 characters; this tenant allows at most 100."
    with pytest.raises(GatewayError, match=f"^{re.escape(message)}$") as caught:
        _complete(request_for(tenant_a, "x" * 101))
    assert caught.value.code == "input_too_large"
    assert caught.value.http_status == 413
    assert fake_provider.requests() == []
    assert _trace(tenant_a, caught.value.call_id).status == "refused"


def test_pii_is_masked_before_leaving_and_restored_in_the_answer(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, redact_prompts=True, redact_traces=True)
    text = "Mention that people can write to ana@acme.com.br or call +55 11 91234-5678."
    response = _complete(request_for(tenant_a, text))
    sent = fake_provider.requests()[-1].body["messages"][-1]["content"]
    assert "ana@acme.com.br" not in sent
    assert "[EMAIL_1]" in sent
    assert "[PHONE_1]" in sent
    # The fake echoes the prompt; the writer gets the real values back.
    assert "ana@acme.com.br" in response.text
    assert "+55 11 91234-5678" in response.text
    trace = _trace(tenant_a, response.call_id)
    assert trace.redacted
    assert "ana@acme.com.br" not in trace.prompt[0]["content"]
    assert "ana@acme.com.br" not in trace.response


def test_tenant_rate_limit_refuses_with_retry_after(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, requests_per_minute=2)

    async def scenario(runtime):
        await gateway.complete(request_for(tenant_a), runtime=runtime)
        await gateway.complete(request_for(tenant_a), runtime=runtime)
        await gateway.complete(request_for(tenant_a), runtime=runtime)

    refusal = r"^Rate limit reached \(tenant requests per minute\); retry in \d+\.\ds\.$"
    with pytest.raises(GatewayError, match=refusal) as caught:
        run_with_runtime(scenario)
    assert caught.value.code == "rate_limited"
    assert caught.value.http_status == 429
    assert 0 < caught.value.retry_after <= 30


def test_api_key_token_limit_takes_estimated_tokens_before_the_call_and_refunds_after(
    tenant_a, models_a, fake_provider
):
    def keyed(max_tokens):
        return request_for(tenant_a, max_tokens=max_tokens, api_key_id=7, api_key_tokens_per_minute=600)

    fake_provider.set_behaviour(Behaviour(output_tokens=5, headers_delay=0.3))

    async def scenario(runtime):
        # Both start before either finishes: 2 x ~510 estimated tokens do not fit in 600.
        return await asyncio.gather(
            gateway.complete(keyed(500), runtime=runtime),
            gateway.complete(keyed(500), runtime=runtime),
            return_exceptions=True,
        )

    first, second = run_with_runtime(scenario, config := fast_config())
    outcomes = sorted(["ok" if not isinstance(r, Exception) else r.code for r in (first, second)])
    assert outcomes == ["ok", "rate_limited"]

    # After the call, the unused estimate was refunded: another call of the same size fits at once.
    fake_provider.set_behaviour(Behaviour(output_tokens=5))
    assert _complete(keyed(500), config).output_tokens == 5
    message = "but the API key tokens per minute limit is 600: it could never pass"
    with pytest.raises(GatewayError, match=r"^This call needs \d+ tokens " + re.escape(message)) as caught:
        _complete(keyed(700), config)
    assert caught.value.http_status == 413  # larger than the key's whole bucket: it could never pass


def _budget(tenant, limit: str, **fields) -> Budget:
    forget_catalog()
    with tenant_scope(tenant):
        return Budget.objects.create(scope="tenant", period="day", limit=Decimal(limit), **fields)


def test_budget_exhausted_refuses_with_402_naming_the_limit_and_reset(tenant_a, models_a, fake_provider):
    _budget(tenant_a, "0.000100")  # 100 micros
    fake_provider.set_behaviour(Behaviour(text="ok", input_tokens=10))
    message = r"^The tenant daily budget is used up \(0\.0000 of 0\.0001\); it resets at \d{4}-\d\d-\d\dT"
    with pytest.raises(GatewayError, match=message) as caught:
        _complete(request_for(tenant_a, "word " * 400))  # input alone costs more than 100 micros on standard
    error = caught.value
    assert error.code == "budget_exceeded"
    assert error.http_status == 402
    assert "tenant daily budget" in error.message
    assert "resets at" in error.message
    assert error.details["resets_at"]


def test_a_tight_budget_clamps_max_tokens_instead_of_refusing(tenant_a, models_a, fake_provider):
    _budget(tenant_a, "0.010000")  # 10,000 micros: a 2,000-token answer on premium would not fit
    fake_provider.set_behaviour(Behaviour(output_tokens=5000))
    response = _complete(request_for(tenant_a, "Hi", model="premium-a", max_tokens=2000))
    sent_max = fake_provider.requests(model="fake-premium")[-1].body["max_tokens"]
    assert sent_max < 2000
    assert response.cost <= Decimal("0.010000")


def test_concurrent_calls_never_spend_past_a_hard_limit(tenant_a, models_a, fake_provider):
    budget = _budget(tenant_a, "0.020000")  # 20,000 micros
    fake_provider.set_behaviour(Behaviour(output_tokens=200, tokens_per_second=2000))

    async def scenario(runtime):
        calls = [gateway.complete(request_for(tenant_a, max_tokens=200), runtime=runtime) for _ in range(120)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run_with_runtime(scenario)
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, GatewayError)]
    assert ok
    assert refused
    assert {r.code for r in refused} == {"budget_exceeded"}
    with tenant_scope(tenant_a):
        spent = sum(Trace.objects.values_list("cost_micros", flat=True))
        alerts = set(BudgetAlert.objects.filter(budget=budget).values_list("threshold", flat=True))
    assert spent <= 20_000
    assert spent == sum(int(r.cost * 1_000_000) for r in ok)
    assert alerts == {0.8, 1.0} or alerts == {0.8}


def test_a_budget_rebuilt_from_traces_after_redis_loses_its_counters(tenant_a, models_a, fake_provider):
    _budget(tenant_a, "0.010000")
    fake_provider.set_behaviour(Behaviour(output_tokens=100, input_tokens=100))
    config = fast_config()
    first = _complete(request_for(tenant_a, max_tokens=100), config)
    # A new key prefix is what Redis looks like after a restart: no counters at all.
    fresh = fast_config()
    second = _complete(request_for(tenant_a, max_tokens=100), fresh)

    async def usage(runtime):
        catalog = await sync_to_async(load_catalog)(tenant_a, fresh=True)
        windows = budgets.windows_for_call(catalog, user_id=None, author_id=None)
        return await runtime.ledger.usage([w.window for w in windows])

    spends = run_with_runtime(usage, fresh)
    assert spends[0].spent_micros == int((first.cost + second.cost) * 1_000_000)


def test_calls_of_tenant_a_never_use_tenant_b_models_or_credentials(
    tenant_a, tenant_b, models_a, fake_provider
):
    register_fake_models(tenant_b, fake_provider.base_url, second_provider=False)
    response = _complete(request_for(tenant_a))
    with tenant_scope(tenant_a):
        assert Trace.objects.filter(pk=response.call_id).exists()
    with tenant_scope(tenant_b):
        assert not Trace.objects.filter(pk=response.call_id).exists()
    message = "Model 'standard-b' cannot serve this call: unknown or inactive model."
    with pytest.raises(GatewayError, match=f"^{re.escape(message)}$") as caught:
        _complete(request_for(tenant_b, model="standard-b"))
    assert caught.value.code == "no_model_available"


def test_a_successful_call_is_a_health_sample_for_the_router_once_its_batch_is_flushed(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(text="Fine.", headers_delay=0.05))

    async def call_then_read_health(runtime):
        response = await gateway.complete(request_for(tenant_a, model="standard"), runtime=runtime)
        await runtime.background.drain()  # the batch: its traces and its health samples
        key = f"model:{models_a['standard'].id}"
        return response, await runtime.health.snapshot(key)

    response, snapshot = run_with_runtime(call_then_read_health, fast_config(trace_flush_seconds=0.05))
    assert response.model == "standard-a"
    assert (snapshot.samples, snapshot.error_rate) == (1, 0.0)
    assert snapshot.latency_ewma_s == pytest.approx(0.05, abs=0.2)


def test_a_cookie_a_provider_sets_never_goes_out_with_a_later_call(tenant_a, tenant_b, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    register_fake_models(tenant_b, fake_provider.base_url)
    fake_provider.set_behaviour(Behaviour(text="Done.", set_cookie="session=tenant-a-only; Path=/"))

    async def one_call_each(runtime):  # one pooled client: the second call reuses the first's
        await gateway.complete(request_for(tenant_a), runtime=runtime)
        await gateway.complete(request_for(tenant_b), runtime=runtime)

    run_with_runtime(one_call_each, fast_config(http_clients=1))
    assert [r.headers.get("cookie") for r in fake_provider.requests()] == [None, None]


def test_api_keys_never_appear_in_traces_or_errors(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(error="unauthorized"))
    all_failed = "Every model in the routing chain failed or was unavailable; see the trace for each attempt."
    with pytest.raises(GatewayError, match=f"^{re.escape(all_failed)}$") as caught:
        _complete(request_for(tenant_a))
    assert "sk-test-secret-key-1234" not in str(caught.value)
    trace = _trace(tenant_a, caught.value.call_id)
    assert "sk-test-secret-key-1234" not in str(trace.attempts)
    assert fake_provider.requests()[0].headers.get("authorization") == "Bearer sk-test-secret-key-1234"


def test_a_repeated_request_is_served_from_the_semantic_cache_at_zero_cost(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=True)
    fake_provider.set_behaviour(Behaviour(text="Cached answer about churn.", input_tokens=200))
    first = _complete(request_for(tenant_a, "How do I reduce churn in the first month?", purpose="comment"))
    second = _complete(request_for(tenant_a, "How do I reduce churn in the first month?", purpose="comment"))
    assert second.cache_hit
    assert second.text == first.text
    assert second.cost == 0
    assert len(fake_provider.requests()) == 1
    trace = _trace(tenant_a, second.call_id)
    assert trace.cache_hit
    assert trace.cost_micros == 0
    assert trace.routing["cache"]["hit"] is True
    # Counted for the console after the answer went out (bookkeeping, stored with the trace).
    entry = SemanticCacheEntry.objects.unscoped().get(pk=trace.routing["cache"]["entry_id"])
    assert entry.hit_count == 1
    # The opposite request is not served the same answer.
    third = _complete(request_for(tenant_a, "How do I increase churn in the first month?", purpose="comment"))
    assert not third.cache_hit


def test_the_cache_is_never_shared_across_tenants(tenant_a, tenant_b, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=True)
    register_fake_models(tenant_b, fake_provider.base_url, cache_enabled=True)
    _complete(request_for(tenant_a, "Same words in both tenants", purpose="comment"))
    other = _complete(request_for(tenant_b, "Same words in both tenants", purpose="comment"))
    assert not other.cache_hit
    assert len(fake_provider.requests()) == 2
