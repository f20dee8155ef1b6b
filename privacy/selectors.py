"""Reads of the privacy app: the tenant in scope's retention and erasure reports."""

from __future__ import annotations

from django.db.models import QuerySet

from privacy.models import ErasureReport, RetentionReport
from tenants.context import require_tenant


def retention_reports(*, limit: int = 30) -> QuerySet[RetentionReport]:
    require_tenant()
    return RetentionReport.objects.order_by("-ran_at", "-id")[:limit]


def erasure_reports(*, limit: int = 30) -> QuerySet[ErasureReport]:
    require_tenant()
    return ErasureReport.objects.order_by("-at", "-id")[:limit]
