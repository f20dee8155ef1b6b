"""Writes about tenants and memberships. Callers pass keyword arguments only."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from tenants.context import tenant_scope
from tenants.forms import InvitationEmailForm
from tenants.models import Invitation, Membership, Tenant, User, invitation_token_hash
from tenants.roles import Role
from tenants.selectors import admin_count
from tenants.signals import invitation_changed

# Sent inside the change's transaction with `membership`, `action` ("member.added", "member.invited",
# "member.role_changed", "member.removed"), `before`, `after` and `actor`; the audit log (a higher app,
# audit/apps.py) records it. The one signal here: tenants cannot import the apps built on them.
membership_changed = Signal()


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
    action = "member.invited" if created else "member.added"
    actor = getattr(request, "user", None) if request is not None else None
    membership_changed.send(
        Membership, membership=membership, action=action, before={}, after={"role": role}, actor=actor
    )
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
    before = {"role": Membership.objects.get(pk=membership.pk).role}
    membership.role = role
    membership.save(update_fields=["role"])
    membership_changed.send(
        Membership,
        membership=membership,
        action="member.role_changed",
        before=before,
        after={"role": role},
        actor=None,
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    list(Membership.objects.select_for_update().filter(role=Role.ADMIN))
    _refuse_if_last_admin(membership)
    membership_changed.send(
        Membership,
        membership=membership,
        action="member.removed",
        before={"role": membership.role},
        after={},
        actor=None,
    )
    membership.delete()


# ---- invitations ---------------------------------------------------------------------------------


def _new_token(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = invitation_token_hash(token)
    invitation.expires_at = timezone.now() + timedelta(days=settings.MAESTRO_INVITATION_DAYS)
    return token


def _send_invitation_email(*, invitation: Invitation, token: str, base_url: str) -> None:
    """Plain text, sent once the invitation is committed (a rolled-back invite sends nothing)."""
    inviter = invitation.invited_by
    context = {
        "tenant_name": invitation.tenant.name,
        "role": invitation.get_role_display(),
        "inviter": (inviter.get_full_name() if inviter else "") or "Maestro",
        "inviter_email": inviter.email if inviter else "",
        "expires_at": invitation.expires_at,
        "accept_url": base_url.rstrip("/") + reverse("invitation_accept", kwargs={"token": token}),
    }
    subject = f"You are invited to {invitation.tenant.name} on Maestro"
    body = render_to_string("tenants/invitation_email.txt", context)
    to = [invitation.email]
    transaction.on_commit(lambda: send_mail(subject, body, None, to))


def _announce(invitation: Invitation, action: str, before: dict, after: dict, actor: User | None) -> None:
    invitation_changed.send(
        Invitation, invitation=invitation, action=action, before=before, after=after, actor=actor
    )


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, email: str, role: str, invited_by: User | None, base_url: str
) -> Invitation:
    """Invite an address to the tenant with a role and e-mail it a link; `base_url` is the site's
    scheme and host ("https://maestro.example"), which the link starts with.

    Refused for a member and for an address with an open invitation (resend that one instead); an
    expired invitation of the address is renewed in place with the new role."""
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    with tenant_scope(tenant):
        if Membership.objects.filter(user__email=email).exists():
            raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
        still_open = Invitation.objects.select_for_update().filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        )
        invitation = still_open.first() or Invitation(email=email)
        if invitation.pk is not None and invitation.state == "pending":
            raise ValidationError({"email": f"{email} is already invited: resend or revoke that invitation."})
        invitation.role, invitation.invited_by = role, invited_by
        token = _new_token(invitation)
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError as exc:  # another admin invited the address a moment ago
            raise ValidationError({"email": f"{email} is already invited."}) from exc
    _send_invitation_email(invitation=invitation, token=token, base_url=base_url)
    _announce(invitation, "invitation.created", {}, {"email": email, "role": role}, invited_by)
    return invitation


def _refuse_unless_open(invitation: Invitation, verb: str) -> None:
    if invitation.accepted_at is not None:
        raise ValidationError(f"This invitation was already accepted: there is nothing to {verb}.")
    if invitation.revoked_at is not None:
        raise ValidationError(f"This invitation was revoked: there is nothing to {verb}.")


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User | None, base_url: str) -> Invitation:
    """A new link with a new expiry; the link sent before stops working."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("tenant", "invited_by")
        .get(pk=invitation.pk)
    )
    _refuse_unless_open(invitation, "resend")
    before = {"expires_at": invitation.expires_at.isoformat()}
    token = _new_token(invitation)
    invitation.save(update_fields=["token_hash", "expires_at"])
    _send_invitation_email(invitation=invitation, token=token, base_url=base_url)
    _announce(
        invitation, "invitation.resent", before, {"expires_at": invitation.expires_at.isoformat()}, actor
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User | None) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    _refuse_unless_open(invitation, "revoke")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    _announce(invitation, "invitation.revoked", {"state": "pending"}, {"state": "revoked"}, actor)
    return invitation


INVITATION_REFUSALS = {
    "expired": "This invitation has expired. Ask the person who invited you to send it again.",
    "revoked": "This invitation was withdrawn. Ask the tenant's admins if you still need access.",
    "accepted": "This invitation was already used. Log in to reach the tenant.",
}


@transaction.atomic
def invitation_accept(*, token: str, password: str | None = None) -> Membership:
    """Join the tenant by the e-mailed link: a new address becomes an account with `password`; an
    existing account just joins (its password stays as it is).

    Raises ValidationError, and changes nothing, for an unknown, expired, revoked or used link, and for
    a missing or weak password of a new account."""
    # The token names the tenant; nothing is in scope before it is found, so look across tenants.
    invitation = (
        Invitation.objects.unscoped()
        .select_for_update()
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None:
        raise ValidationError("This invitation link is not valid. Check that it was copied whole.")
    refusal = INVITATION_REFUSALS.get(invitation.state)
    if refusal:
        raise ValidationError(refusal, code=invitation.state)
    user = User.objects.filter(email=invitation.email).first()
    if user is None:
        if not password:
            raise ValidationError({"password": "Choose a password for your new account."})
        try:
            password_validation.validate_password(password, user=User(email=invitation.email))
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user = User.objects.create_user(email=invitation.email, password=password)
    with tenant_scope(invitation.tenant):
        membership, joined = Membership.objects.get_or_create(user=user, defaults={"role": invitation.role})
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        _announce(invitation, "invitation.accepted", {"state": "pending"}, {"state": "accepted"}, user)
    if joined:  # a person added directly meanwhile keeps the role they were given
        membership_changed.send(
            Membership,
            membership=membership,
            action="member.added",
            before={},
            after={"role": membership.role},
            actor=user,
        )
    return membership
