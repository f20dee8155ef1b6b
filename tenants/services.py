"""Writes about tenants and memberships. Callers pass keyword arguments only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from tenants.context import tenant_scope
from tenants.forms import InvitationEmailForm
from tenants.models import Membership, Tenant, User
from tenants.roles import Role
from tenants.selectors import admin_count


def tenant_create(*, name: str, slug: str, owner: User | None = None) -> Tenant:
    tenant = Tenant.objects.create(name=name, slug=slug)
    if owner is not None:
        with tenant_scope(tenant):
            Membership.objects.create(user=owner, role=Role.ADMIN)
    return tenant


@transaction.atomic
def member_add(*, tenant: Tenant, email: str, role: str, request: HttpRequest | None = None) -> Membership:
    """Add a person to the tenant; a new address gets an account and a set-password email."""
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=None)
    with tenant_scope(tenant):
        if Membership.objects.filter(user=user).exists():
            raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
        membership = Membership.objects.create(user=user, role=role)
    if created and request is not None:
        _send_set_password_email(email=email, request=request)
    return membership


def _send_set_password_email(*, email: str, request: HttpRequest) -> None:
    form = InvitationEmailForm({"email": email})
    if form.is_valid():
        transaction.on_commit(
            lambda: form.save(
                request=request,
                use_https=request.is_secure(),
                subject_template_name="registration/invitation_subject.txt",
                email_template_name="registration/invitation_email.html",
            )
        )


def _refuse_if_last_admin(membership: Membership) -> None:
    if membership.role == Role.ADMIN and admin_count() <= 1:
        raise ValidationError("A tenant keeps at least one admin: promote someone else first.")


@transaction.atomic
def member_change_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    # Lock the tenant's admin rows so two admins demoting each other cannot leave none.
    list(Membership.objects.select_for_update().filter(role=Role.ADMIN))
    if role != Role.ADMIN:
        _refuse_if_last_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    list(Membership.objects.select_for_update().filter(role=Role.ADMIN))
    _refuse_if_last_admin(membership)
    membership.delete()
