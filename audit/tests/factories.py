"""Audit test data: events recorded through the service, inside their tenant's scope."""

from __future__ import annotations

from audit.models import AuditEvent
from audit.services import record
from tenants.context import tenant_scope


def make_event(*, tenant, action: str = "budget.changed", **fields) -> AuditEvent:
    with tenant_scope(tenant):
        return record(
            action=action, target_type="gateway.budget", target_id=1, target_label="Budget", **fields
        )
