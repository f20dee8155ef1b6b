"""Traces of every model call, and usage (calls, tokens, cost) grouped by day, model, author or flow."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from api import serializers as s
from api.pagination import Cursor
from api.views.base import TenantScopedView, query_of
from api.views.content import ReadViewSet
from gateway.models import Trace
from orchestrator.models import FlowRun


class TraceCursor(Cursor):
    ordering = "-created_at"  # the primary key is a random UUID


def _in_range(traces, query: dict):
    if "from" in query:
        traces = traces.filter(created_at__gte=query["from"])
    if "to" in query:
        traces = traces.filter(created_at__lt=query["to"])
    return traces


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.TraceFilter]))
class TraceViewSet(ReadViewSet):
    """One row per gateway call: routing, attempts, tokens, cost. Prompts and answers in the detail."""

    pagination_class = TraceCursor
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"

    def get_serializer_class(self):
        return s.TraceDetailSerializer if self.action == "retrieve" else s.TraceSerializer

    def get_queryset(self):
        traces = Trace.objects.all()
        if self.action != "list":
            return traces
        query = query_of(s.TraceFilter, self.request)
        filters = {"model": "model_alias", "purpose": "purpose", "status": "status", "author": "author_id"}
        filters["flow_run"] = "flow_run_id"
        for field, column in filters.items():
            if field in query:
                traces = traces.filter(**{column: query[field]})
        return _in_range(traces, query)


GROUPS = ("day", "model", "author", "flow")


def _group_expression(group_by: str):
    if group_by == "flow":  # by the flow's name: a run id means little to a CRM
        runs = FlowRun.objects.filter(pk=OuterRef("flow_run_id")).values("definition__name")[:1]
        return Coalesce(Subquery(runs), Value("(no flow)"))
    return {"day": TruncDate("created_at"), "model": F("model_alias"), "author": F("author_id")}[group_by]


def usage_rows(*, group_by: str, query: dict) -> list[dict]:
    """Calls, tokens and cost of the tenant in scope, grouped; the scoped manager is the tenant filter."""
    traces = _in_range(Trace.objects.all(), query)
    rows = list(
        traces.annotate(key=_group_expression(group_by))
        .values("key")
        .annotate(
            calls=Count("pk"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_micros=Sum("cost_micros"),
        )
        .order_by("key")
    )
    for row in rows:
        row["key"] = None if row["key"] is None else str(row["key"])
    return rows


class UsageView(TenantScopedView):
    @extend_schema(parameters=[s.UsageQuery], responses=s.UsageSerializer)
    def get(self, request):
        """Calls, tokens and cost (micros of the currency) of the tenant's model calls, grouped."""
        query = query_of(s.UsageQuery, request)
        rows = usage_rows(group_by=query["group_by"], query=query)
        total = sum(row["cost_micros"] or 0 for row in rows)
        return Response({"group_by": query["group_by"], "results": rows, "total_cost_micros": total})
