"""Reads about tenants and memberships."""

from __future__ import annotations

from django.db.models import Max, QuerySet
from django.shortcuts import get_object_or_404

from tenants.context import require_tenant
from tenants.models import Author, Membership, StyleProfile, Tenant, User
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


def authors(*, active_only: bool = True) -> QuerySet[Author]:
    queryset = Author.objects.all()
    return queryset.filter(is_active=True) if active_only else queryset


def access_author(*, author_id: int) -> Author:
    """The author of the current tenant, or 404 (for missing and foreign alike)."""
    return get_object_or_404(Author, pk=author_id)


def current_style_profile(*, author: Author) -> StyleProfile | None:
    return StyleProfile.objects.filter(author=author).order_by("-version").first()


def authors_with_versions(*, active_only: bool = False) -> QuerySet[Author]:
    """Authors with `current_version` (their highest style profile version, None without one)."""
    return authors(active_only=active_only).annotate(current_version=Max("profiles__version"))


def style_profile_history(*, author: Author) -> QuerySet[StyleProfile]:
    """Every version of the author's style card, newest first."""
    return StyleProfile.objects.filter(author=author).select_related("created_by").order_by("-version")


def access_style_profile(*, author: Author, version: int) -> StyleProfile:
    """One version of the author's card, or 404."""
    return get_object_or_404(
        StyleProfile.objects.select_related("created_by"), author=author, version=version
    )


def member_user_by_email(*, email: str) -> User | None:
    """A member of the tenant in scope, by email address; None for anyone else."""
    membership = Membership.objects.select_related("user").filter(user__email=email.strip().lower()).first()
    return membership.user if membership else None
