"""Reads about tenants and memberships."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tenants.context import require_tenant
from tenants.models import Invitation, Membership, Tenant, User, invitation_token_hash
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


def access_membership(*, membership_id: int) -> Membership:
    """A membership of the tenant in scope, or 404 (for missing and foreign alike)."""
    return get_object_or_404(tenant_members(), pk=membership_id)


def admin_count() -> int:
    return Membership.objects.filter(role=Role.ADMIN).count()


def admin_emails() -> list[str]:
    """The addresses of the tenant in scope's admins, who hear of its budget alerts."""
    admins = Membership.objects.filter(role=Role.ADMIN, user__is_active=True)
    return list(admins.order_by("user__email").values_list("user__email", flat=True))


def member_user_by_email(*, email: str) -> User | None:
    """A member of the tenant in scope, by email address; None for anyone else."""
    membership = Membership.objects.select_related("user").filter(user__email=email.strip().lower()).first()
    return membership.user if membership else None


def pending_invitations() -> QuerySet[Invitation]:
    """The tenant's open invitations, expired ones included (an admin resends or revokes those)."""
    require_tenant()
    return Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True).select_related(
        "invited_by"
    )


def access_invitation(*, invitation_id: int) -> Invitation:
    """One of the tenant's open invitations; Invitation.DoesNotExist for any other."""
    return pending_invitations().get(pk=invitation_id)


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation an e-mailed link names, in whichever tenant, for its accept page."""
    # The link is the only key: no tenant is in scope before the invitation is found.
    return (
        Invitation.objects.unscoped()
        .select_related("tenant", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def account_exists(*, email: str) -> bool:
    """Whether an address already has a Maestro account (in any tenant): its invitation then just joins."""
    return User.objects.filter(email=email.strip().lower()).exists()
