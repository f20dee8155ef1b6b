"""Console reads: budget spend, dashboard maths on crafted traces, and the trace explorer's filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from authors.models import Author
from console import selectors
from console.tests.factories import make_budget, make_llm_model, make_trace
from gateway import selectors as gateway_selectors
from gateway.models import SemanticCacheEntry
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


# ---- spend --------------------------------------------------------------------------------------


def test_spend_of_each_budget_comes_from_the_ledger_rebuilt_from_traces(tenant_a, members_a):
    writer = members_a[Role.WRITER].user
    tenant_budget = make_budget(tenant=tenant_a, scope="tenant", limit="0.01")
    user_budget = make_budget(tenant=tenant_a, scope="user", user=writer, limit="1")
    make_trace(tenant=tenant_a, cost_micros=4000, user=writer)
    make_trace(tenant=tenant_a, cost_micros=7000)
    make_trace(tenant=tenant_a, cost_micros=99_000, created_at=datetime.now(UTC) - timedelta(days=40))
    with tenant_scope(tenant_a):
        spends = {s.budget.pk: s for s in gateway_selectors.budgets_with_spend()}
    assert spends[tenant_budget.pk].spent_micros == 11_000
    assert spends[tenant_budget.pk].percent == 110.0
    assert spends[tenant_budget.pk].exhausted
    assert spends[tenant_budget.pk].source == "ledger"
    assert spends[user_budget.pk].spent_micros == 4000
    assert not spends[user_budget.pk].exhausted


def test_spend_falls_back_to_traces_when_redis_is_unreachable(tenant_a, settings):
    make_budget(tenant=tenant_a, scope="tenant", limit="1")
    make_trace(tenant=tenant_a, cost_micros=2500)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with tenant_scope(tenant_a):
        [spend] = gateway_selectors.budgets_with_spend()
    assert (spend.spent_micros, spend.source) == (2500, "traces")


def test_spend_never_counts_another_tenants_calls(tenant_a, tenant_b):
    make_budget(tenant=tenant_a, scope="tenant", limit="1")
    make_trace(tenant=tenant_b, cost_micros=5000)
    with tenant_scope(tenant_a):
        [spend] = gateway_selectors.budgets_with_spend()
    assert spend.spent_micros == 0


# ---- dashboard ----------------------------------------------------------------------------------


def _attempts(*pairs):
    return [{"model": model, "status": status} for model, status in pairs]


@pytest.fixture
def crafted(tenant_a):
    """10 calls: 3 plain, 2 fallbacks, 2 cache hits, 2 errors (retried on one model), 1 refusal."""
    make_llm_model(tenant=tenant_a, alias="small-x", tier="small")  # prices 1 and 2 per M tokens
    with tenant_scope(tenant_a):
        entry = SemanticCacheEntry.objects.create(
            purpose="post",
            model_class="",
            scope_hash="s",
            request_text="q",
            request_hash="h",
            embedding=[0.0] * 383 + [1.0],
            embedding_model="hashing",
            response_text="a",
            cost_saved_micros=1234,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    for latency, ttft in ((100, 10), (200, 20), (300, 30)):
        make_trace(
            tenant=tenant_a,
            latency_ms=latency,
            ttft_ms=ttft,
            attempts=_attempts(("a", "ok")),
            model_alias="a",
        )
    for _ in range(2):
        make_trace(
            tenant=tenant_a,
            latency_ms=400,
            ttft_ms=None,
            model_alias="b",
            attempts=_attempts(("a", "server_error"), ("b", "ok")),
        )
    make_trace(
        tenant=tenant_a,
        cache_hit=True,
        attempts=[],
        model_alias="small-x",
        routing={"cache": {"entry_id": entry.pk}},
    )
    make_trace(
        tenant=tenant_a,
        cache_hit=True,
        attempts=[],
        model_alias="small-x",
        input_tokens=1000,
        output_tokens=500,
        routing={"cache": {"entry_id": 999_999_999}},  # entry gone: priced from the tokens
    )
    for _ in range(2):
        make_trace(
            tenant=tenant_a, status="error", attempts=_attempts(("a", "server_error"), ("a", "server_error"))
        )
    make_trace(tenant=tenant_a, status="refused", error_code="budget_exceeded", attempts=[], model_alias="")
    make_trace(
        tenant=tenant_a, latency_ms=9999, created_at=datetime.now(UTC) - timedelta(days=8)
    )  # outside 7d


def test_rates_count_errors_fallbacks_cache_hits_and_money_saved(tenant_a, crafted):
    with tenant_scope(tenant_a):
        rates = selectors.rates(range_key="7d")
    assert (rates["total"], rates["ok"], rates["errors"], rates["refused"]) == (10, 7, 2, 1)
    assert rates["error_rate"] == 0.2
    assert rates["refusal_rate"] == 0.1
    assert (rates["fallbacks"], rates["routed"]) == (2, 7)  # retries on one model are not fallbacks
    assert rates["fallback_rate"] == round(2 / 7, 4)
    assert rates["cache_hit_rate"] == round(2 / 7, 4)
    assert rates["saved_micros"] == 1234 + (1000 * 1 + 500 * 2)


def test_latency_percentiles_per_model_are_interpolated_like_postgres(tenant_a, crafted):
    with tenant_scope(tenant_a):
        rows = {row["model_alias"]: row for row in selectors.latency_by_model(range_key="7d")}
    assert rows["a"]["calls"] == 3
    assert (rows["a"]["p50"], rows["a"]["p95"]) == (200.0, 290.0)  # 200 + 0.9 x (300 - 200)
    assert (rows["a"]["ttft_p50"], rows["a"]["ttft_p95"]) == (20.0, 29.0)
    assert rows["b"]["ttft_p50"] is None  # not streamed: no time to first token
    assert "small-x" not in rows  # cache hits say nothing about a model's latency


def test_rate_series_has_one_point_per_day_with_todays_rates(tenant_a, crafted):
    with tenant_scope(tenant_a):
        series = selectors.rate_series(range_key="7d")
    assert len(series["x"]) == 7
    assert series["error_rate"][-1] == 0.2
    assert series["error_rate"][0] is None
    assert series["p50"][-1] == 300.0  # ok, non-cached latencies: 100, 200, 300, 400, 400


def test_usage_series_by_model_and_by_author(tenant_a):
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ada")
    make_trace(
        tenant=tenant_a,
        model_alias="a",
        cost_micros=1_500_000,
        input_tokens=10,
        output_tokens=5,
        author_id=author.pk,
    )
    make_trace(tenant=tenant_a, model_alias="a", cost_micros=500_000, input_tokens=1, output_tokens=1)
    make_trace(
        tenant=tenant_a,
        model_alias="b",
        cost_micros=250_000,
        created_at=datetime.now(UTC) - timedelta(days=2),
    )
    with tenant_scope(tenant_a):
        by_model = selectors.usage_series(range_key="7d", dimension="model")
        by_author = selectors.usage_series(range_key="7d", dimension="author")
        hourly = selectors.usage_series(range_key="24h", dimension="model")
    spend = {s["label"]: s["values"] for s in by_model["spend"]}
    assert spend["a"][-1] == 2.0
    assert spend["b"][-3] == 0.25
    assert sum(spend["b"]) == 0.25
    assert {s["label"]: s["values"][-1] for s in by_model["tokens"]}["a"] == 17
    assert {s["label"] for s in by_author["spend"]} == {"Ada", "(none)"}
    assert len(hourly["x"]) == 24
    assert [s["label"] for s in hourly["spend"]] == ["a"]


def test_dashboard_figures_leave_out_other_tenants(tenant_a, tenant_b):
    make_trace(tenant=tenant_b, cost_micros=10, status="error")
    with tenant_scope(tenant_a):
        assert selectors.rates(range_key="30d")["total"] == 0
        assert selectors.usage_series(range_key="30d", dimension="model")["spend"] == []


def test_dashboard_page_embeds_chart_data_and_the_vendored_library(client_for, members_a, tenant_a, crafted):
    response = client_for(members_a[Role.ADMIN]).get(
        f"/t/{tenant_a.slug}/console/dashboard/?range=7d&by=model"
    )
    html = response.content.decode()
    assert 'id="console-charts"' in html
    assert "vendor/uplot/uPlot.iife.min.js" in html
    assert "js/charts.js" in html
    assert response.context["rates"]["total"] == 10


# ---- trace explorer -----------------------------------------------------------------------------


@pytest.fixture
def explorer(tenant_a, tenant_b, members_a):
    writer = members_a[Role.WRITER].user
    return {
        "post": make_trace(tenant=tenant_a, purpose="post", model_alias="a", user=writer),
        "comment": make_trace(tenant=tenant_a, purpose="comment", model_alias="b", author_id=7),
        "failed": make_trace(tenant=tenant_a, status="error", error_code="provider_error", model_alias="a"),
        "old": make_trace(tenant=tenant_a, created_at=datetime.now(UTC) - timedelta(days=10)),
        "other": make_trace(tenant=tenant_b, purpose="post", model_alias="a"),
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"purpose": "comment"}, ["comment"]),
        ({"model": "b"}, ["comment"]),
        ({"status": "error"}, ["failed"]),
        ({"error_code": "provider_error"}, ["failed"]),
        ({"author": 7}, ["comment"]),
        ({"until": (datetime.now(UTC) - timedelta(days=5)).date()}, ["old"]),
        ({"since": (datetime.now(UTC) - timedelta(days=1)).date(), "model": "a"}, ["failed", "post"]),
    ],
)
def test_trace_filters(tenant_a, explorer, filters, expected):
    with tenant_scope(tenant_a):
        found = set(selectors.trace_search(filters=filters).values_list("pk", flat=True))
    assert found == {explorer[name].pk for name in expected}


def test_trace_filter_by_user_and_call_id_never_reaches_another_tenant(tenant_a, explorer, members_a):
    with tenant_scope(tenant_a):
        by_user = list(selectors.trace_search(filters={"user": members_a[Role.WRITER].user_id}))
        assert by_user == [explorer["post"]]
        assert not selectors.trace_search(filters={"call_id": explorer["other"].pk}).exists()
        assert explorer["other"].pk not in set(
            selectors.trace_search(filters={}).values_list("pk", flat=True)
        )


def test_trace_list_page_filters_and_paginates(client_for, members_a, tenant_a, explorer):
    client = client_for(members_a[Role.ADMIN])
    response = client.get(f"/t/{tenant_a.slug}/console/traces/", {"purpose": "comment"})
    assert list(response.context["page"]) == [explorer["comment"]]
    fragment = client.get(
        f"/t/{tenant_a.slug}/console/traces/", {"status": "error"}, headers={"HX-Request": "true"}
    )
    assert "<h1>" not in fragment.content.decode()
    assert str(explorer["failed"].pk) in fragment.content.decode()


def test_trace_detail_shows_routing_attempts_prompt_and_figures(client_for, members_a, tenant_a):
    trace = make_trace(
        tenant=tenant_a,
        routing={
            "chain": ["a", "b"],
            "tier": "standard",
            "reasons": ["tenant prefers quality"],
            "excluded": {"c": "circuit open"},
        },
        attempts=_attempts(("a", "server_error"), ("b", "ok")),
        prompt=[{"role": "user", "content": "Write about [EMAIL_1]"}],
        response="Done.",
        redacted=True,
        input_tokens=12,
        output_tokens=3,
        cost_micros=4567,
        latency_ms=321.5,
        ttft_ms=45.2,
    )
    html = (
        client_for(members_a[Role.ADMIN])
        .get(f"/t/{tenant_a.slug}/console/traces/{trace.pk}/")
        .content.decode()
    )
    for text in (
        "tenant prefers quality",
        "circuit open",
        "server_error",
        "Write about [EMAIL_1]",
        "redacted",
        "0.004567",
        "321.5 ms",
        "45.2 ms",
        "Done.",
    ):
        assert text in html, text


def test_unknown_trace_is_404(client_for, members_a, tenant_a):
    response = client_for(members_a[Role.ADMIN]).get(f"/t/{tenant_a.slug}/console/traces/{uuid.uuid4()}/")
    assert response.status_code == 404
