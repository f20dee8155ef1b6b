"""The opening of every Celery task: load the tenant by id and enter its scope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tenants.context import tenant_scope
from tenants.models import Tenant


@contextlib.contextmanager
def task_tenant_scope(tenant_id: int) -> Iterator[Tenant | None]:
    """Yield the tenant, in scope for the block; yield None when it is gone, so the task can return
    quietly (a task may run after its tenant was deleted).

        with task_tenant_scope(tenant_id) as tenant:
            if tenant is None:
                return "tenant gone"
            ...
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        yield None
        return
    with tenant_scope(tenant):
        yield tenant
