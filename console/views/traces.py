from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from console import selectors
from console.exports import trace_csv_lines
from console.forms import TraceFilterForm
from console.views._common import admin_view
from gateway import selectors as gateway_selectors
from prompts.models import PromptVersion
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
def traces_csv(request: TenantRequest, tenant_slug: str) -> HttpResponseBase:
    """The calls the explorer's filters select, as CSV; filters it cannot read are refused, not
    dropped (an export of everything is not what was asked for)."""
    form = TraceFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        errors = form.errors.items()
        problems = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in errors)
        message = f"These filters cannot be used: {problems}"
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    filters = form.cleaned_data if request.GET else {}
    response = StreamingHttpResponse(
        trace_csv_lines(selectors.trace_search(filters=filters)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="traces-{tenant_slug}-{stamp}.csv"'
    return response


@admin_view
@require_GET
def trace_detail(request: TenantRequest, tenant_slug: str, trace_id) -> HttpResponse:
    trace = gateway_selectors.access_trace(trace_id=trace_id)
    context = selectors.trace_detail(trace=trace)
    if trace.prompt_version_id:
        # Maestro's shared versions and the tenant's own; one gone since reads as its id alone.
        context["prompt_version"] = (
            PromptVersion.objects.select_related("template").filter(pk=trace.prompt_version_id).first()
        )
    return render(request, "console/trace.html", context)
