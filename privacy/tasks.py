"""Scheduled privacy jobs (Celery beat, config/settings/base.py): retention per tenant, expired cache."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from gateway.cache import cache_purge_expired
from privacy.services import retention_apply
from tenants.models import Tenant
from tenants.task_scope import task_tenant_scope

logger = logging.getLogger("maestro.privacy")


@shared_task(name="privacy.tasks.retention_run_all")
def retention_run_all() -> int:
    """Beat: one retention run per active tenant, each its own task (a tenant's failure is its own)."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        retention_run.delay(tenant_id)
    return len(tenant_ids)


@shared_task(
    name="privacy.tasks.retention_run",
    autoretry_for=(OperationalError,),  # the database was briefly unreachable: the run is idempotent
    max_retries=3,
    retry_backoff=True,
    acks_late=True,
)
def retention_run(tenant_id: int) -> dict[str, int] | None:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None or not tenant.is_active:
            return None
        report = retention_apply(tenant=tenant)
    logger.info("retention of tenant %s removed %s", tenant_id, report.removed)
    return report.removed


@shared_task(name="privacy.tasks.cache_purge_expired")
def purge_expired_cache() -> int:
    """Beat: expired semantic-cache entries of every tenant (lookups already ignore them)."""
    deleted = cache_purge_expired()
    logger.info("semantic cache: %s expired entries purged", deleted)
    return deleted
