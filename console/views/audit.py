"""The audit log for admins: filter by actor, action, target and dates; download as CSV or JSON."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.forms import AuditFilterForm
from audit.selectors import audit_csv, audit_events, audit_json
from console.views._common import admin_view
from tenants.http import TenantRequest

PAGE_SIZE = 50
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@admin_view
@require_GET
def audit_log(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = audit_events(**form.filters())
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx:
        return render(request, "audit/events.html#results", context)
    return render(request, "audit/events.html", context)


@admin_view
@require_GET
def audit_export(request: TenantRequest, tenant_slug: str, fmt: str) -> HttpResponse:
    """The filtered log, every page of it; `fmt` comes from the URL (export.csv, export.json)."""
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponse(f"Invalid filter: {form.errors.as_text()}", status=400, content_type="text/plain")
    events = audit_events(**form.filters())
    body = "".join(audit_csv(events)) if fmt == "csv" else audit_json(events)
    response = HttpResponse(body, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{tenant_slug}-{stamp}.{fmt}"'
    return response
