"""Reads for the console. Everything runs inside the tenant's scope (the scoped managers filter by it);
values handed to templates and charts are plain data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Aggregate, Count, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDay, TruncHour

from authors.models import Author
from common.money import cost_micros
from gateway.models import (
    LLMModel,
    SemanticCacheEntry,
    Trace,
)
from orchestrator.models import FlowRun
from tenants.models import Membership

logger = logging.getLogger("maestro.console")


# ---- single objects (404 for missing and for another tenant's) ----------------------------------


# ---- budgets and their spend --------------------------------------------------------------------


def budget_subject_choices() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    users = [
        (m.user_id, m.user.email) for m in Membership.objects.select_related("user").order_by("user__email")
    ]
    authors = [(a.pk, a.name) for a in Author.objects.order_by("name")]
    return users, authors


# ---- models and policy --------------------------------------------------------------------------


# ---- webhooks -----------------------------------------------------------------------------------


# ---- dashboard ----------------------------------------------------------------------------------

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DIMENSIONS = {"model": "model_alias", "author": "author_id", "flow": "flow_name", "user": "user_id"}


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


# Distinct models among a trace's attempts: more than one means the call fell back to another model.
ATTEMPTED_MODELS = RawSQL(
    "(SELECT count(DISTINCT a->>'model') FROM jsonb_array_elements(orchestrator_trace.attempts) a)", []
)


def traces_in_range(*, range_key: str, now: datetime | None = None) -> QuerySet[Trace]:
    since = (now or datetime.now(UTC)) - RANGES[range_key]
    return Trace.objects.filter(created_at__gte=since)


def _buckets(range_key: str, now: datetime) -> list[datetime]:
    if range_key == "24h":
        end = now.replace(minute=0, second=0, microsecond=0)
        return [end - timedelta(hours=h) for h in range(23, -1, -1)]
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = RANGES[range_key].days
    return [end - timedelta(days=d) for d in range(days - 1, -1, -1)]


def _labels(dimension: str, keys: set) -> dict:
    if dimension == "author":
        return dict(Author.objects.filter(pk__in=[k for k in keys if k]).values_list("pk", "name"))
    if dimension == "user":
        return dict(
            Membership.objects.filter(user_id__in=[k for k in keys if k]).values_list(
                "user_id", "user__email"
            )
        )
    return {}


def usage_series(*, range_key: str, dimension: str, now: datetime | None = None) -> dict:
    """Spend (currency) and tokens per hour (24h) or day, one series per model/author/flow/user."""
    now = now or datetime.now(UTC)
    trunc = TruncHour if range_key == "24h" else TruncDay
    traces = traces_in_range(range_key=range_key, now=now)
    if dimension == "flow":
        names = FlowRun.objects.filter(pk=OuterRef("flow_run_id")).values("definition__name")[:1]
        traces = traces.annotate(flow_name=Subquery(names))
    rows = (
        traces.annotate(bucket=trunc("created_at", tzinfo=UTC))
        .values("bucket", key=F(DIMENSIONS[dimension]))
        .annotate(spend=Sum("cost_micros"), tokens=Sum(F("input_tokens") + F("output_tokens")))
        .order_by("bucket")
    )
    buckets = _buckets(range_key, now)
    index = {b: i for i, b in enumerate(buckets)}
    spend: dict = {}
    tokens: dict = {}
    for row in rows:
        i = index.get(row["bucket"])
        if i is None:
            continue
        if row["key"] in (None, "") and not row["spend"] and not row["tokens"]:
            continue  # calls that failed before any model answered: counted by the error rate, not here
        spend.setdefault(row["key"], [0.0] * len(buckets))[i] += row["spend"] / 1_000_000
        tokens.setdefault(row["key"], [0] * len(buckets))[i] += row["tokens"]
    labels = _labels(dimension, set(spend))
    name = lambda key: str(labels.get(key, key)) if key not in (None, "") else "(none)"  # noqa: E731
    return {
        "x": [int(b.timestamp()) for b in buckets],
        "spend": [{"label": name(k), "values": [round(v, 6) for v in vs]} for k, vs in spend.items()],
        "tokens": [{"label": name(k), "values": vs} for k, vs in tokens.items()],
    }


def latency_by_model(*, range_key: str, now: datetime | None = None) -> list[dict]:
    """p50/p95 of latency and time to first token per model, over answered calls."""
    rows = (
        traces_in_range(range_key=range_key, now=now)
        .filter(status="ok", cache_hit=False)
        .exclude(model_alias="")
        .values("model_alias")
        .annotate(
            calls=Count("id"),
            p50=Percentile("latency_ms", 0.5),
            p95=Percentile("latency_ms", 0.95),
            ttft_p50=Percentile("ttft_ms", 0.5),
            ttft_p95=Percentile("ttft_ms", 0.95),
        )
        .order_by("model_alias")
    )
    return [
        {key: (round(value, 1) if isinstance(value, float) else value) for key, value in row.items()}
        for row in rows
    ]


def rates(*, range_key: str, now: datetime | None = None) -> dict:
    """Call counts and rates over the range. Error rate: errors / all calls; refusal rate likewise;
    fallback rate: calls whose attempts name more than one model / calls that reached a model;
    cache hit rate: cache hits / answered calls."""
    traces = traces_in_range(range_key=range_key, now=now)
    figures = traces.annotate(models_tried=ATTEMPTED_MODELS).aggregate(
        total=Count("id"),
        ok=Count("id", filter=Q(status="ok")),
        errors=Count("id", filter=Q(status="error")),
        refused=Count("id", filter=Q(status="refused")),
        routed=Count("id", filter=Q(models_tried__gte=1)),
        fallbacks=Count("id", filter=Q(models_tried__gt=1)),
        cache_hits=Count("id", filter=Q(cache_hit=True)),
        spend=Sum("cost_micros"),
    )
    figures["spend"] = figures["spend"] or 0

    def ratio(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    figures["error_rate"] = ratio(figures["errors"], figures["total"])
    figures["refusal_rate"] = ratio(figures["refused"], figures["total"])
    figures["fallback_rate"] = ratio(figures["fallbacks"], figures["routed"])
    figures["cache_hit_rate"] = ratio(figures["cache_hits"], figures["ok"])
    figures["saved_micros"] = money_saved_micros(traces=traces.filter(cache_hit=True))
    return figures


def money_saved_micros(*, traces: QuerySet[Trace]) -> int:
    """What cache hits would have cost. Per hit, in order of preference: the original call's cost
    recorded in the trace (`routing.cache.cost_saved_micros`), the cache entry's `cost_saved_micros`
    (what the call that filled the cache paid), else the hit's tokens at the model's current prices."""
    hits = list(traces.values("routing", "model_alias", "input_tokens", "output_tokens"))
    entry_ids = {((h["routing"] or {}).get("cache") or {}).get("entry_id") for h in hits} - {None}
    entries = dict(SemanticCacheEntry.objects.filter(pk__in=entry_ids).values_list("pk", "cost_saved_micros"))
    prices = _prices()
    saved = 0
    for hit in hits:
        cache = (hit["routing"] or {}).get("cache") or {}
        if cache.get("cost_saved_micros") is not None:
            saved += int(cache["cost_saved_micros"])
        elif cache.get("entry_id") in entries:
            saved += entries[cache["entry_id"]]
        elif hit["model_alias"] in prices:
            input_price, output_price = prices[hit["model_alias"]]
            saved += cost_micros(
                input_tokens=hit["input_tokens"],
                output_tokens=hit["output_tokens"],
                input_price_per_mtok=input_price,
                output_price_per_mtok=output_price,
            )
    return saved


def _prices() -> dict:
    rows = LLMModel.objects.values_list("alias", "input_price_per_mtok", "output_price_per_mtok", "tenant_id")
    prices = {}
    for alias, input_price, output_price, _tenant in sorted(rows, key=lambda r: r[3] is not None):
        prices[alias] = (input_price, output_price)  # the tenant's own model shadows a shared alias
    return prices


def rate_series(*, range_key: str, now: datetime | None = None) -> dict:
    """Per bucket: error, fallback and cache hit rates, and latency p50/p95 and TTFT p50/p95."""
    now = now or datetime.now(UTC)
    trunc = TruncHour if range_key == "24h" else TruncDay
    rows = (
        traces_in_range(range_key=range_key, now=now)
        .annotate(bucket=trunc("created_at", tzinfo=UTC), models_tried=ATTEMPTED_MODELS)
        .values("bucket")
        .annotate(
            total=Count("id"),
            ok=Count("id", filter=Q(status="ok")),
            errors=Count("id", filter=Q(status="error")),
            routed=Count("id", filter=Q(models_tried__gte=1)),
            fallbacks=Count("id", filter=Q(models_tried__gt=1)),
            hits=Count("id", filter=Q(cache_hit=True)),
            p50=Percentile("latency_ms", 0.5, filter=Q(status="ok", cache_hit=False)),
            p95=Percentile("latency_ms", 0.95, filter=Q(status="ok", cache_hit=False)),
            ttft_p50=Percentile("ttft_ms", 0.5, filter=Q(status="ok", cache_hit=False)),
            ttft_p95=Percentile("ttft_ms", 0.95, filter=Q(status="ok", cache_hit=False)),
        )
    )
    buckets = _buckets(range_key, now)
    by_bucket = {row["bucket"]: row for row in rows}
    names = ["error_rate", "fallback_rate", "cache_hit_rate", "p50", "p95", "ttft_p50", "ttft_p95"]
    series: dict[str, list] = {name: [] for name in names}
    for bucket in buckets:
        row = by_bucket.get(bucket)
        if row is None:
            for name in names:
                series[name].append(None)
            continue
        series["error_rate"].append(round(row["errors"] / row["total"], 4))
        series["fallback_rate"].append(round(row["fallbacks"] / row["routed"], 4) if row["routed"] else None)
        series["cache_hit_rate"].append(round(row["hits"] / row["ok"], 4) if row["ok"] else None)
        for name in ("p50", "p95", "ttft_p50", "ttft_p95"):
            series[name].append(round(row[name], 1) if row[name] is not None else None)
    return {"x": [int(b.timestamp()) for b in buckets], **series}


# ---- trace explorer -----------------------------------------------------------------------------


def trace_search(*, filters: dict) -> QuerySet[Trace]:
    traces = Trace.objects.select_related("user").defer("prompt", "response", "routing")
    exact = {
        "model_alias": filters.get("model"),
        "purpose": filters.get("purpose"),
        "status": filters.get("status"),
        "error_code": filters.get("error_code"),
        "author_id": filters.get("author"),
        "user_id": filters.get("user"),
        "pk": filters.get("call_id"),
    }
    traces = traces.filter(**{field: value for field, value in exact.items() if value not in (None, "")})
    if filters.get("since"):
        traces = traces.filter(created_at__date__gte=filters["since"])
    if filters.get("until"):
        traces = traces.filter(created_at__date__lte=filters["until"])
    if filters.get("cache_hit"):
        traces = traces.filter(cache_hit=True)
    return traces.order_by("-created_at")


def trace_filter_choices() -> dict:
    def distinct(field: str) -> list[str]:
        return sorted(set(Trace.objects.order_by().values_list(field, flat=True).distinct()) - {""})

    return {
        "models": distinct("model_alias"),
        "purposes": distinct("purpose"),
        "error_codes": distinct("error_code"),
    }


def trace_detail(*, trace: Trace) -> dict:
    routing = trace.routing or {}
    author = Author.objects.filter(pk=trace.author_id).first() if trace.author_id else None
    return {
        "trace": trace,
        "author": author,
        "chain": routing.get("chain", []),
        "reasons": routing.get("reasons", []),
        "excluded": routing.get("excluded", {}),
        "cache": cache_summary(routing.get("cache")),
        "tier": routing.get("tier"),
        "complexity": routing.get("complexity"),
    }


@dataclass(frozen=True)
class CacheSummary:
    """The semantic-cache lookup of one call, in words: what happened and the nearest entries."""

    outcome: str
    facts: list[tuple[str, str]]
    refused: list[dict]


def cache_summary(record: dict | None) -> CacheSummary | None:
    if not record:
        return None
    hit = bool(record.get("hit"))
    facts = [("Lookup took", f"{record.get('elapsed_ms', 0):.1f} ms")]
    if hit:
        facts += [
            ("Similarity", f"{record.get('similarity', 0):.3f}"),
            ("Entry", str(record.get("entry_id", ""))),
        ]
    elif record.get("best_similarity") is not None:
        facts.append(("Nearest entry's similarity", f"{record['best_similarity']:.3f}"))
    if record.get("reason"):
        facts.append(("Why", str(record["reason"]).replace("_", " ")))
    refused = [
        {
            "entry_id": r.get("entry_id", ""),
            "similarity": f"{r.get('similarity', 0):.3f}",
            "guard": str(r.get("guard", "")).replace("_", " "),
            "why": r.get("why", ""),
        }
        for r in record.get("refused") or []
    ]
    return CacheSummary(
        outcome="answered from the cache" if hit else "not answered from the cache",
        facts=facts,
        refused=refused,
    )
