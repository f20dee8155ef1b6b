"""How a tenant page declares what it needs; enforced by TenantMiddleware.

Every view mounted under `/t/<tenant_slug>/` must be decorated with
`tenant_view`. Safe methods (GET, HEAD, OPTIONS) need `read`; anything else
needs `write`, and a view that declares no `write` refuses every change.
The middleware refuses, loudly, a tenant URL whose view declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenants.roles import Permission

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class TenantViewRules:
    read: Permission
    write: Permission | None

    def permission_for(self, method: str) -> Permission | None:
        return self.read if method in SAFE_METHODS else self.write


def tenant_view(*, read: Permission = Permission.VIEW, write: Permission | None = None) -> Callable:
    def decorate(view: Callable) -> Callable:
        view.tenant_rules = TenantViewRules(read=read, write=write)  # type: ignore[attr-defined]  # a mark on the view function, read by rules_of
        return view

    return decorate


def rules_of(view: Callable) -> TenantViewRules | None:
    return getattr(view, "tenant_rules", None)
