"""Reads about tenants and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.context import require_tenant
from tenants.models import Membership, Tenant, User
from tenants.roles import Role


def membership_for(*, user: User, tenant: Tenant) -> Membership | None:
    if not user.is_authenticated or not user.is_active:
        return None
    # Resolving the edge: the tenant is not in scope yet, so filter by it explicitly.
    return Membership.objects.unscoped().filter(user=user, tenant=tenant, tenant__is_active=True).first()


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """The user's own memberships in every tenant, for the tenant switcher.

    Crosses tenants on purpose, but only ever returns rows of this user.
    """
    return (
        Membership.objects.unscoped()
        .filter(user=user, tenant__is_active=True)
        .select_related("tenant")
        .order_by("tenant__name")
    )


def tenant_members() -> QuerySet[Membership]:
    require_tenant()
    return Membership.objects.select_related("user").order_by("user__email")


def admin_count() -> int:
    return Membership.objects.filter(role=Role.ADMIN).count()


def member_user_by_email(*, email: str) -> User | None:
    """A member of the tenant in scope, by email address; None for anyone else."""
    membership = Membership.objects.select_related("user").filter(user__email=email.strip().lower()).first()
    return membership.user if membership else None
