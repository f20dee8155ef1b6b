from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console import selectors
from console.forms import TraceFilterForm
from console.views._common import admin_view
from gateway import selectors as gateway_selectors
from tenants.http import TenantRequest

PAGE_SIZE = 50


@admin_view
@require_GET
def traces(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = TraceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.trace_search(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx:
        return render(request, "console/traces.html#results", context)
    return render(request, "console/traces.html", context)


@admin_view
@require_GET
def trace_detail(request: TenantRequest, tenant_slug: str, trace_id) -> HttpResponse:
    trace = gateway_selectors.access_trace(trace_id=trace_id)
    return render(request, "console/trace.html", selectors.trace_detail(trace=trace))
