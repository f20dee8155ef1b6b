from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console import selectors
from console.forms import DashboardForm
from console.views._common import admin_view
from gateway import alerts
from gateway import selectors as gateway_selectors
from tenants.http import TenantRequest


def _notices() -> dict:
    """What the console's front pages announce: redaction an upgrade switched on, an open TTFT alert."""
    return {"policy": gateway_selectors.tenant_policy(), "ttft_alert": alerts.open_ttft_alert()}


@admin_view
@require_GET
def index(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """Overview: today's figures and the way to each console page."""
    context = {
        "rates": selectors.rates(range_key="24h"),
        "spends": gateway_selectors.budgets_with_spend(),
        **_notices(),
    }
    return render(request, "console/index.html", context)


@admin_view
@require_GET
def dashboard(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = DashboardForm(request.GET or None)
    range_key, dimension = form.values()
    charts = {
        "usage": selectors.usage_series(range_key=range_key, dimension=dimension),
        "rates": selectors.rate_series(range_key=range_key),
    }
    context = {
        "form": form,
        "range_key": range_key,
        "dimension": dimension,
        "ranges": list(selectors.RANGES),
        "dimensions": list(selectors.DIMENSIONS),
        "rates": selectors.rates(range_key=range_key),
        "latency": selectors.latency_by_model(range_key=range_key),
        "charts": charts,
        **_notices(),
    }
    return render(request, "console/dashboard.html", context)
