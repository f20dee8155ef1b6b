"""The current tenant of this request or task, held in a context variable.

The edge (TenantMiddleware for the browser, the API-key authentication for the
API, `tenant_scope` in Celery tasks) sets it; scoped managers read it. It is
always reset in a `finally`, so a scope never leaks into the next request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("maestro_current_tenant", default=None)


class TenantScopeError(RuntimeError):
    """A tenant-owned table was queried with no tenant in scope (fails closed)."""


def current_tenant() -> Tenant | None:
    return _current_tenant.get()


def require_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantScopeError(
            "No tenant in scope. Wrap the code in `tenant_scope(tenant)`; use `.unscoped()` only "
            "where crossing tenants is the point, with a comment saying why."
        )
    return tenant


@contextlib.contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


_cross_tenant: ContextVar[str | None] = ContextVar("maestro_cross_tenant_reason", default=None)


def cross_tenant_reason() -> str | None:
    return _cross_tenant.get()


@contextlib.contextmanager
def cross_tenant_access(reason: str) -> Iterator[None]:
    """Let scoped managers return every tenant's rows, for a stated reason.

    Loud on purpose: used by Django's admin site (staff see all tenants) and by
    operator commands. Never from a tenant's own request.
    """
    if not reason:
        raise ValueError("cross_tenant_access needs a reason")
    token = _cross_tenant.set(reason)
    try:
        yield
    finally:
        _cross_tenant.reset(token)
