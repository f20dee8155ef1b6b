"""Which budget windows a call spends from, how much they have spent (from traces), and alerts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from common.money import micros_to_units
from gateway.budgets import BudgetWindow
from gateway.catalog import BudgetEntry, TenantCatalog
from gateway.models import Budget, BudgetAlert, BudgetAlertKind, Trace
from tenants.context import tenant_scope
from tenants.models import Tenant
from webhooks.services import budget_alert_emit  # budget.alert webhooks, sent on commit

logger = logging.getLogger(__name__)

# The e-mail of an alert goes from a worker (gateway/tasks.py), named rather than imported: the task
# reads this module's period bounds, and a mail server must never hold up a model call.
BUDGET_ALERT_MAIL = "gateway.tasks.send_budget_alert_mail"


@dataclass(frozen=True)
class ActiveWindow:
    window: BudgetWindow
    budget: BudgetEntry
    starts_at: datetime


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def _applies(budget: BudgetEntry, user_id: int | None, author_id: int | None) -> bool:
    if budget.scope == "tenant":
        return True
    if budget.scope == "user":
        return user_id is not None and budget.user_id == user_id
    return author_id is not None and budget.author_id == author_id


def _label(budget: BudgetEntry) -> str:
    subject = {"tenant": "tenant", "user": "user", "author": "author"}[budget.scope]
    return f"{subject} {'daily' if budget.period == 'day' else 'monthly'} budget"


def windows_for_call(
    catalog: TenantCatalog, *, user_id: int | None, author_id: int | None, now: datetime | None = None
) -> list[ActiveWindow]:
    now = now or datetime.now(UTC)
    active = []
    for budget in catalog.budgets:
        if not _applies(budget, user_id, author_id):
            continue
        starts_at, resets_at = period_bounds(budget.period, now)
        key = window_key(catalog.tenant_id, budget.id, starts_at)
        window = BudgetWindow(
            key=key, limit_micros=budget.limit_micros, resets_at=resets_at, label=_label(budget)
        )
        active.append(ActiveWindow(window=window, budget=budget, starts_at=starts_at))
    return active


def window_key(tenant_id: int, budget_id: int, starts_at: datetime) -> str:
    return f"budget:{tenant_id}:{budget_id}:{starts_at:%Y%m%d}"


def spent_in_window(window: BudgetWindow) -> int:
    """Spend of a window summed from the traces: the source of truth when Redis has lost a counter.

    Called by the budget ledger with only the window, so the tenant and budget come from its key.
    """
    _, tenant_id, budget_id, day = window.key.split(":")
    starts_at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
    # The ledger names the tenant in the key it built; load that one tenant and scope to it.
    tenant = Tenant.objects.get(pk=int(tenant_id))
    with tenant_scope(tenant):
        budget = Budget.objects.get(pk=int(budget_id))
        traces = Trace.objects.filter(created_at__gte=starts_at, created_at__lt=window.resets_at)
        if budget.scope == "user":
            traces = traces.filter(user_id=budget.user_id)
        elif budget.scope == "author":
            traces = traces.filter(author_id=budget.author_id)
        return traces.aggregate(total=Sum("cost_micros"))["total"] or 0


def thresholds_crossed(active: ActiveWindow, before_micros: int, after_micros: int) -> list[float]:
    """The alert thresholds a spend from `before_micros` to `after_micros` crossed (no database)."""
    limit = active.budget.limit_micros
    return [t for t in active.budget.alert_thresholds if before_micros < t * limit <= after_micros]


def record_crossings(
    tenant: Tenant, active: ActiveWindow, before_micros: int, after_micros: int
) -> list[float]:
    """Record an alert for each threshold this spend crossed; once per budget, threshold and period."""
    crossed = thresholds_crossed(active, before_micros, after_micros)
    limit = active.budget.limit_micros
    recorded = []
    with tenant_scope(tenant):
        for threshold in crossed:
            try:
                with transaction.atomic():
                    alert = BudgetAlert.objects.create(
                        budget_id=active.budget.id,
                        threshold=threshold,
                        period_start=active.starts_at,
                        spent=micros_to_units(after_micros).quantize(Decimal("0.000001")),
                    )
            except IntegrityError:
                continue  # another process recorded this crossing first
            recorded.append(threshold)
            budget_alert_emit(tenant=tenant, active=active, threshold=threshold, spent_micros=after_micros)
            _mail_on_commit(tenant, alert)
            logger.warning(
                "budget alert: tenant %s %s at %.0f%% (%s of %s)",
                tenant.pk,
                active.window.label,
                threshold * 100,
                micros_to_units(after_micros),
                micros_to_units(limit),
            )
    return recorded


def record_exhausted(tenant: Tenant, active: ActiveWindow, spent_micros: int) -> bool:
    """Record that the window's hard cap refused a call: once per budget and period, as an alert of kind
    "exhausted" (a `budget.alert` webhook and an e-mail to the admins). The cap refuses before spend
    reaches the limit (a call's minimum cost no longer fits), so a crossing of 100% may never happen.

    Returns whether this call recorded it. Never raises: the caller is refusing a call, and a problem
    here must not change that answer."""
    try:
        return _record_exhausted(tenant, active, spent_micros)
    except Exception:
        logger.exception("could not record the exhausted alert of budget %s", active.budget.id)
        return False


def _record_exhausted(tenant: Tenant, active: ActiveWindow, spent_micros: int) -> bool:
    with tenant_scope(tenant):
        recorded = BudgetAlert.objects.filter(
            budget_id=active.budget.id, kind=BudgetAlertKind.EXHAUSTED, period_start=active.starts_at
        )
        if recorded.exists():  # the usual case: every refused call after the first lands here
            return False
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    budget_id=active.budget.id,
                    kind=BudgetAlertKind.EXHAUSTED,
                    threshold=1.0,
                    period_start=active.starts_at,
                    spent=micros_to_units(spent_micros).quantize(Decimal("0.000001")),
                )
        except IntegrityError:
            return False  # a concurrent refusal recorded it first
        budget_alert_emit(
            tenant=tenant, active=active, threshold=1.0, spent_micros=spent_micros, kind="exhausted"
        )
        _mail_on_commit(tenant, alert)
    logger.warning(
        "budget exhausted: tenant %s %s refused a call (%s of %s spent); it resets at %s",
        tenant.pk,
        active.window.label,
        micros_to_units(spent_micros),
        micros_to_units(active.budget.limit_micros),
        active.window.resets_at.isoformat(),
    )
    return True


def _mail_on_commit(tenant: Tenant, alert: BudgetAlert) -> None:
    tenant_id, alert_id = tenant.pk, alert.pk

    def send() -> None:
        try:
            current_app.send_task(
                BUDGET_ALERT_MAIL,
                args=(tenant_id, alert_id),
                ignore_result=True,
                retry=True,
                retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY,
            )
        except (KombuError, RedisError, OSError):  # the alert stays recorded, webhooks and all
            logger.exception("could not queue the e-mail of budget alert %s", alert_id)

    transaction.on_commit(send)
