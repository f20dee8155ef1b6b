"""The time-to-first-token alert: each tenant's p95 over a window of its streamed calls, against the
threshold of its policy (2 s unless it says otherwise).

Celery beat runs `check_ttft_alerts` every minute (gateway/tasks.py). An alert opens when the p95 of at
least `MAESTRO_TTFT_MIN_SAMPLES` calls goes above the threshold, and resolves when it is back at or under
it; each change is sent to the tenant's alert channels (its webhooks subscribed to `latency.ttft_alert`)
once, and the open alert is shown on the console's dashboard. Too few calls in the window leave the
state as it was: a percentile of three calls says nothing.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.models import LatencyAlert, TenantPolicy, Trace
from tenants.context import tenant_scope
from tenants.models import Tenant
from webhooks.models import WebhookEvent
from webhooks.services import webhook_event_emit

logger = logging.getLogger("maestro.gateway")
DEFAULT_THRESHOLD_SECONDS = 2.0


@dataclass(frozen=True)
class TtftWindow:
    p95_ms: float | None  # None: no streamed call in the window
    samples: int
    worst_model: str
    threshold_ms: float
    window_minutes: int
    min_samples: int

    @property
    def enough(self) -> bool:
        return self.p95_ms is not None and self.samples >= self.min_samples

    @property
    def above(self) -> bool:
        return self.enough and self.p95_ms is not None and self.p95_ms > self.threshold_ms


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which `fraction` of the values lie)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ttft_window(*, now: datetime, window_minutes: int, min_samples: int) -> TtftWindow:
    """The TTFT figures of the tenant in scope over the window ending at `now`."""
    policy = TenantPolicy.objects.first()
    threshold_s = policy.ttft_alert_seconds if policy else DEFAULT_THRESHOLD_SECONDS
    rows = Trace.objects.filter(
        created_at__gt=now - timedelta(minutes=window_minutes),
        created_at__lte=now,
        streamed=True,
        ttft_ms__isnull=False,
        cache_hit=False,  # an answer from the cache streams at once: it would hide a slow model
    ).values_list("model_alias", "ttft_ms")
    by_model: dict[str, list[float]] = defaultdict(list)
    for alias, ttft_ms in rows:
        by_model[alias].append(ttft_ms)
    values = [v for model_values in by_model.values() for v in model_values]
    worst = max(by_model, key=lambda alias: percentile(by_model[alias], 0.95), default="")
    return TtftWindow(
        p95_ms=round(percentile(values, 0.95), 1) if values else None,
        samples=len(values),
        worst_model=worst,
        threshold_ms=threshold_s * 1000,
        window_minutes=window_minutes,
        min_samples=min_samples,
    )


def ttft_alert_check(*, tenant: Tenant, now: datetime | None = None) -> str:
    """Open, update or resolve the tenant's TTFT alert; returns what happened."""
    now = now or timezone.now()
    with tenant_scope(tenant):
        window = ttft_window(
            now=now,
            window_minutes=settings.MAESTRO_TTFT_WINDOW_MINUTES,
            min_samples=settings.MAESTRO_TTFT_MIN_SAMPLES,
        )
        open_alert = LatencyAlert.objects.filter(resolved_at__isnull=True).first()
        if open_alert is None:
            return _open(tenant, window, now) if window.above else "quiet"
        if not window.enough:
            LatencyAlert.objects.filter(pk=open_alert.pk).update(checked_at=now, samples=window.samples)
            return "too few calls"
        if window.above:
            LatencyAlert.objects.filter(pk=open_alert.pk).update(
                checked_at=now,
                last_p95_ms=window.p95_ms,
                samples=window.samples,
                worst_model=window.worst_model,
            )
            return "still open"
        return _resolve(tenant, open_alert, window, now)


def _open(tenant: Tenant, window: TtftWindow, now: datetime) -> str:
    p95_ms = window.p95_ms or 0.0
    try:
        with transaction.atomic():
            alert = LatencyAlert.objects.create(
                threshold_ms=window.threshold_ms,
                p95_ms=p95_ms,
                last_p95_ms=p95_ms,
                samples=window.samples,
                window_minutes=window.window_minutes,
                worst_model=window.worst_model,
                started_at=now,
                checked_at=now,
            )
    except IntegrityError:
        return "opened elsewhere"  # another check opened it first (one open alert per tenant)
    logger.warning(
        "TTFT alert: tenant %s p95 %.0f ms > %.0f ms over %s calls (worst model %s)",
        tenant.pk, p95_ms, window.threshold_ms, window.samples, window.worst_model or "-",
    )  # fmt: skip
    _emit(tenant, alert, state="firing")
    return "opened"


def _resolve(tenant: Tenant, alert: LatencyAlert, window: TtftWindow, now: datetime) -> str:
    alert.resolved_at, alert.checked_at = now, now
    alert.last_p95_ms, alert.samples = window.p95_ms or 0.0, window.samples
    alert.save(update_fields=["resolved_at", "checked_at", "last_p95_ms", "samples"])
    logger.info("TTFT alert resolved: tenant %s p95 %.0f ms", tenant.pk, alert.last_p95_ms)
    _emit(tenant, alert, state="resolved")
    return "resolved"


def _emit(tenant: Tenant, alert: LatencyAlert, *, state: str) -> None:
    data = {
        "state": state,
        "metric": "ttft_p95",
        "p95_ms": alert.last_p95_ms,
        "threshold_ms": alert.threshold_ms,
        "samples": alert.samples,
        "window_minutes": alert.window_minutes,
        "worst_model": alert.worst_model,
        "started_at": alert.started_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }
    try:
        with transaction.atomic():
            webhook_event_emit(tenant=tenant, event=WebhookEvent.TTFT_ALERT, data=data)
    except Exception:  # the alert stays recorded and shown even if its webhooks cannot be
        logger.exception("could not record latency.ttft_alert webhooks for tenant %s", tenant.pk)


def tenants_to_check(*, now: datetime, window_minutes: int) -> list[Tenant]:
    """Tenants with streamed calls in the window, or with an open alert (which may need resolving)."""
    since = now - timedelta(minutes=window_minutes)
    # The periodic check looks at every tenant's traces, by design: it runs for all of them.
    active = Trace.objects.unscoped().filter(created_at__gt=since, streamed=True).values("tenant_id")
    alerting = LatencyAlert.objects.unscoped().filter(resolved_at__isnull=True).values("tenant_id")
    return list(Tenant.objects.filter(pk__in=active) | Tenant.objects.filter(pk__in=alerting))


def check_ttft_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Check every tenant that needs it; one tenant's failure does not stop the others."""
    now = now or timezone.now()
    outcomes: dict[str, int] = defaultdict(int)
    for tenant in tenants_to_check(now=now, window_minutes=settings.MAESTRO_TTFT_WINDOW_MINUTES):
        try:
            outcomes[ttft_alert_check(tenant=tenant, now=now)] += 1
        except Exception:
            logger.exception("TTFT alert check failed for tenant %s", tenant.pk)
            outcomes["failed"] += 1
    return dict(outcomes)


def open_ttft_alert() -> LatencyAlert | None:
    """The tenant in scope's open alert, for the console."""
    return LatencyAlert.objects.filter(resolved_at__isnull=True).first()
