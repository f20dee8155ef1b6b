"""Reads of the gateway's records: route preferences for the router, budgets with their live spend,
policy, providers, models and traces. Everything runs inside the tenant's scope."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from common.money import micros_to_units
from common.redis import async_redis_client
from gateway.budgets import BudgetLedger, BudgetWindow, WindowSpend
from gateway.budgets.windows import period_bounds, spent_in_window, window_key
from gateway.models import Budget, LLMModel, ProviderEndpoint, RoutePreference, TenantPolicy, Trace

logger = logging.getLogger("maestro.gateway")


def access_budget(*, budget_id: int) -> Budget:
    return get_object_or_404(Budget.objects.select_related("user", "author"), pk=budget_id)


def access_provider(*, provider_id: int) -> ProviderEndpoint:
    """Only the tenant's own providers: shared ones are read-only to tenants."""
    return get_object_or_404(ProviderEndpoint.objects.filter(tenant__isnull=False), pk=provider_id)


def access_llm_model(*, llm_model_id: int) -> LLMModel:
    return get_object_or_404(LLMModel.objects.filter(tenant__isnull=False), pk=llm_model_id)


def access_trace(*, trace_id) -> Trace:
    return get_object_or_404(Trace.objects.select_related("user", "model"), pk=trace_id)


@dataclass(frozen=True)
class BudgetSpend:
    budget: Budget
    spent_micros: int
    reserved_micros: int
    resets_at: datetime
    source: str  # "ledger" (Redis, live) or "traces" (summed from PostgreSQL)

    @property
    def spent(self) -> Decimal:
        return micros_to_units(self.spent_micros)

    @property
    def percent(self) -> float:
        limit = self.budget.limit_micros
        return round(100 * self.spent_micros / limit, 1) if limit else 100.0

    @property
    def exhausted(self) -> bool:
        return self.spent_micros >= self.budget.limit_micros


def budget_window(budget: Budget, now: datetime | None = None) -> BudgetWindow:
    """The window the gateway keeps for this budget right now (same key, so the same Redis counter)."""
    starts_at, resets_at = period_bounds(budget.period, now or datetime.now(UTC))
    return BudgetWindow(
        key=window_key(budget.tenant_id, budget.pk, starts_at),
        limit_micros=budget.limit_micros,
        resets_at=resets_at,
        label=str(budget),
    )


def _ledger_prefix() -> str:
    return dict(getattr(settings, "MAESTRO_GATEWAY", {})).get("key_prefix", "maestro")


async def _ledger_usage(windows: list[BudgetWindow]) -> list[WindowSpend]:
    client = async_redis_client(purpose="probe")
    try:
        ledger = BudgetLedger(client, prefix=_ledger_prefix(), load_spent=sync_to_async(spent_in_window))
        return await ledger.usage(windows)
    finally:
        await client.aclose()


def budgets_with_spend(*, now: datetime | None = None) -> list[BudgetSpend]:
    """Every budget with its current period's spend: live from the gateway's Redis ledger (which
    rebuilds a missing counter from traces), or summed from traces when Redis cannot answer."""
    budgets = list(
        Budget.objects.select_related("user", "author").order_by("-is_active", "scope", "period", "pk")
    )
    windows = [budget_window(b, now) for b in budgets]
    if not budgets:
        return []
    try:
        usage = async_to_sync(_ledger_usage)(windows)
    except Exception:  # Redis down or slow: the traces still know
        logger.warning("budget ledger unavailable; summing spend from traces", exc_info=True)
        return [
            BudgetSpend(b, spent_in_window(w), 0, w.resets_at, "traces")
            for b, w in zip(budgets, windows, strict=True)
        ]
    return [
        BudgetSpend(b, u.spent_micros, u.reserved_micros, w.resets_at, "ledger")
        for b, w, u in zip(budgets, windows, usage, strict=True)
    ]


def tenant_policy() -> TenantPolicy:
    policy = TenantPolicy.objects.prefetch_related("allowed_models").first()
    return policy or TenantPolicy()


def selectable_models() -> QuerySet[LLMModel]:
    """Active shared models and the tenant's own, for the allowed-models checklist."""
    return LLMModel.objects.filter(is_active=True).select_related("provider").order_by("tier", "alias")


def tenant_providers() -> QuerySet[ProviderEndpoint]:
    return ProviderEndpoint.objects.order_by("tenant_id", "name")


def tenant_models() -> QuerySet[LLMModel]:
    return LLMModel.objects.select_related("provider").order_by("tier", "alias")


def route_preferences() -> QuerySet[RoutePreference]:
    return RoutePreference.objects.all()


def access_route(*, route_id: int) -> RoutePreference:
    return get_object_or_404(RoutePreference, pk=route_id)
