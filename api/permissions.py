"""Scopes: the one place that decides what an API caller may do.

Each view maps its actions (viewsets) or methods (plain views) to a scope in `required_scopes`;
safe methods default to `read`, and a change the view does not map is refused (fails closed).
Session users get the scopes their role allows, through the role's browser permissions.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from api.models import Scope
from tenants.roles import Permission, role_allows

SCOPE_PERMISSION: dict[str, Permission] = {
    Scope.READ: Permission.VIEW,
    Scope.GENERATE: Permission.WRITE,
    Scope.REVIEW: Permission.WRITE,
    Scope.ADMIN: Permission.EDIT_CONTENT,
}


def scopes_for_role(role: str) -> frozenset[str]:
    return frozenset(scope for scope, permission in SCOPE_PERMISSION.items() if role_allows(role, permission))


def required_scope(request, view) -> str | None:
    mapping: dict[str, str] = getattr(view, "required_scopes", {})
    action = getattr(view, "action", None)
    if action and action in mapping:
        return mapping[action]
    if request.method in mapping:
        return mapping[request.method]
    return Scope.READ if request.method in SAFE_METHODS else None


class HasScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        principal = request.auth
        scopes: frozenset[str] = getattr(principal, "scopes", frozenset())
        needed = required_scope(request, view)
        if needed is None:
            self.message = "This endpoint takes no changes."
            return False
        self.message = f"This needs the {needed!r} scope."
        view.missing_scope = needed
        return needed in scopes
