from __future__ import annotations

from django.http import HttpRequest

from tenants.roles import Permission, role_allows
from tenants.selectors import memberships_of_user


def tenancy(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    role = membership.role if membership else None
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": membership,
        "my_memberships": memberships_of_user(user=user) if user and user.is_authenticated else [],
        "can": {perm.value: bool(role and role_allows(role, perm)) for perm in Permission},
    }
