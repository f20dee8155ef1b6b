import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from tenants import services
from tenants.context import tenant_scope
from tenants.models import Invitation, Membership, User
from tenants.roles import Role
from tenants.tests.factories import PASSWORD, make_invitation, make_member

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-unusual-passphrase-42"


def _link_token(message) -> str:
    return re.search(r"/invitations/([^/\s]+)/", message.body).group(1)


def _invite(client, tenant, email="new.person@example.test", role="editor", capture=None):
    with capture(execute=True):
        response = client.post(f"/t/{tenant.slug}/members/", {"email": email, "role": role})
    assert response.status_code == 302
    return _link_token(mail.outbox[-1])


def test_an_invitation_is_pending_until_accepted_and_creates_nothing_before(
    client_for, members_a, tenant_a, django_capture_on_commit_callbacks
):
    client = client_for(members_a[Role.ADMIN])
    _invite(client, tenant_a, email="New.Person@Example.test", capture=django_capture_on_commit_callbacks)
    assert not User.objects.filter(email="new.person@example.test").exists()
    page = client.get(f"/t/{tenant_a.slug}/members/")
    assert b"new.person@example.test" in page.content
    assert b"Revoke" in page.content
    with tenant_scope(tenant_a):
        invitation = Invitation.objects.get()
    assert invitation.state == "pending"
    assert invitation.role == Role.EDITOR
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)


def test_the_email_names_the_tenant_the_role_the_inviter_and_the_expiry(
    client_for, members_a, tenant_a, django_capture_on_commit_callbacks
):
    admin = members_a[Role.ADMIN]
    admin.user.full_name = "Ada Admin"
    admin.user.save()
    token = _invite(client_for(admin), tenant_a, capture=django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    assert message.to == ["new.person@example.test"]
    assert "Tenant A" in message.subject
    assert "Ada Admin" in message.body
    assert admin.user.email in message.body
    assert "Tenant A" in message.body
    assert "Editor" in message.body
    with tenant_scope(tenant_a):
        expires_at = Invitation.objects.get().expires_at
    assert f"{expires_at:%Y}" in message.body
    assert "works until" in message.body
    assert message.alternatives == []  # plain text
    with tenant_scope(tenant_a):  # only the hash of the token is stored
        assert not Invitation.objects.filter(token_hash=token).exists()


def test_a_new_person_accepts_chooses_a_password_and_is_logged_in(
    client, client_for, members_a, tenant_a, django_capture_on_commit_callbacks
):
    token = _invite(client_for(members_a[Role.ADMIN]), tenant_a, capture=django_capture_on_commit_callbacks)
    client.logout()
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert b"Tenant A" in page.content
    assert b"Editor" in page.content
    assert members_a[Role.ADMIN].user.email.encode() in page.content
    response = client.post(
        f"/invitations/{token}/", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == f"/t/{tenant_a.slug}/"
    user = User.objects.get(email="new.person@example.test")
    assert user.check_password(NEW_PASSWORD)
    with tenant_scope(tenant_a):
        assert Membership.objects.get(user=user).role == Role.EDITOR
        assert Invitation.objects.get().state == "accepted"
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"invitation.created", "invitation.accepted", "member.added"} <= actions
    assert client.get(f"/t/{tenant_a.slug}/").status_code == 200


def test_a_weak_or_mismatched_password_is_refused_and_the_invitation_stays_open(client, tenant_a):
    _invitation, token = make_invitation(tenant=tenant_a)
    weak = client.post(f"/invitations/{token}/", {"password": "123", "password_again": "123"})
    assert weak.status_code == 200
    assert b"too short" in weak.content
    differ = client.post(f"/invitations/{token}/", {"password": NEW_PASSWORD, "password_again": "other"})
    assert b"differ" in differ.content
    with tenant_scope(tenant_a):
        assert Invitation.objects.get().state == "pending"
    assert not User.objects.filter(email=_invitation.email).exists()


def test_an_existing_account_just_joins_and_keeps_its_password(client, tenant_a, tenant_b):
    existing = make_member(tenant=tenant_b).user
    _invitation, token = make_invitation(tenant=tenant_a, email=existing.email, role=Role.VIEWER)
    page = client.get(f"/invitations/{token}/")
    assert b"already have a Maestro account" in page.content
    assert b"password" not in page.content.lower().split(b"<form")[0]
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    with tenant_scope(tenant_a):
        assert Membership.objects.get(user=existing).role == Role.VIEWER


def test_an_expired_invitation_gets_a_clear_page_and_joins_no_one(client, tenant_a):
    invitation, token = make_invitation(tenant=tenant_a)
    with tenant_scope(tenant_a):
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 410
    assert b"has expired" in page.content
    response = client.post(
        f"/invitations/{token}/", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 410
    assert not User.objects.filter(email=invitation.email).exists()
    with pytest.raises(ValidationError, match="expired"):
        services.invitation_accept(token=token, password=NEW_PASSWORD)


def test_a_revoked_invitation_cannot_be_accepted(client, client_for, members_a, tenant_a):
    invitation, token = make_invitation(tenant=tenant_a)
    response = client_for(members_a[Role.ADMIN]).post(
        f"/t/{tenant_a.slug}/members/invitations/{invitation.pk}/revoke/"
    )
    assert response.status_code == 302
    client.logout()
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 410
    assert b"withdrawn" in page.content
    with tenant_scope(tenant_a):
        invitation.refresh_from_db()
        assert invitation.state == "revoked"
        assert AuditEvent.objects.filter(action="invitation.revoked").exists()


def test_a_used_or_unknown_link_gets_a_clear_page(client, tenant_a):
    _invitation, token = make_invitation(tenant=tenant_a)
    services.invitation_accept(token=token, password=NEW_PASSWORD)
    used = client.get(f"/invitations/{token}/")
    assert used.status_code == 410
    assert b"already used" in used.content
    unknown = client.get("/invitations/not-a-token/")
    assert unknown.status_code == 404
    assert b"not valid" in unknown.content


def test_resending_sends_a_new_link_and_the_old_one_stops_working(
    client, client_for, members_a, tenant_a, django_capture_on_commit_callbacks
):
    admin_client = client_for(members_a[Role.ADMIN])
    old_token = _invite(admin_client, tenant_a, capture=django_capture_on_commit_callbacks)
    with tenant_scope(tenant_a):
        invitation = Invitation.objects.get()
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/t/{tenant_a.slug}/members/invitations/{invitation.pk}/resend/")
    assert response.status_code == 302
    new_token = _link_token(mail.outbox[-1])
    assert new_token != old_token
    assert len(mail.outbox) == 2
    with tenant_scope(tenant_a):
        invitation.refresh_from_db()
    assert invitation.expires_at - timezone.now() > timedelta(days=6)
    client.logout()
    assert client.get(f"/invitations/{old_token}/").status_code == 404
    assert client.get(f"/invitations/{new_token}/").status_code == 200


def test_inviting_a_member_or_an_open_invitation_again_is_a_clear_form_error(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    member = client.post(
        f"/t/{tenant_a.slug}/members/", {"email": members_a[Role.WRITER].user.email, "role": "viewer"}
    )
    assert member.status_code == 200
    assert b"already a member" in member.content
    invitation, _token = make_invitation(tenant=tenant_a)
    again = client.post(f"/t/{tenant_a.slug}/members/", {"email": invitation.email, "role": "viewer"})
    assert again.status_code == 200
    assert b"already invited" in again.content
    with tenant_scope(tenant_a):
        assert Invitation.objects.count() == 1


def test_inviting_an_address_whose_invitation_expired_renews_it(tenant_a, members_a):
    invitation, old_token = make_invitation(tenant=tenant_a, role=Role.VIEWER)
    with tenant_scope(tenant_a):
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
    renewed = services.invitation_create(
        tenant=tenant_a, email=invitation.email, role=Role.WRITER, invited_by=None, base_url="http://x"
    )
    assert renewed.pk == invitation.pk
    assert renewed.state == "pending"
    assert renewed.role == Role.WRITER
    with pytest.raises(ValidationError, match="not valid"):
        services.invitation_accept(token=old_token, password=NEW_PASSWORD)


@override_settings(MAESTRO_INVITATION_DAYS=2)
def test_the_expiry_comes_from_the_setting(tenant_a):
    invitation = services.invitation_create(
        tenant=tenant_a, email="a@example.test", role=Role.WRITER, invited_by=None, base_url="http://x"
    )
    assert timedelta(days=1, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=2)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.WRITER, Role.VIEWER])
def test_only_admins_invite_resend_or_revoke(client_for, members_a, tenant_a, role):
    invitation, _token = make_invitation(tenant=tenant_a)
    client = client_for(members_a[role])
    base = f"/t/{tenant_a.slug}/members/"
    assert client.post(base, {"email": "x@example.test", "role": "admin"}).status_code == 403
    assert client.post(f"{base}invitations/{invitation.pk}/revoke/").status_code == 403
    assert client.post(f"{base}invitations/{invitation.pk}/resend/").status_code == 403
    assert client.get(f"{base}invitations/{invitation.pk}/revoke/").status_code == 405
    page = client.get(base)
    assert invitation.email.encode() in page.content
    assert b"Revoke" not in page.content
    with tenant_scope(tenant_a):
        assert Invitation.objects.get().state == "pending"
        assert Invitation.objects.count() == 1


def test_another_tenants_invitation_is_404(client_for, members_a, tenant_a, tenant_b):
    invitation, _token = make_invitation(tenant=tenant_b)
    client = client_for(members_a[Role.ADMIN])
    assert client.post(f"/t/{tenant_a.slug}/members/invitations/{invitation.pk}/revoke/").status_code == 404
    assert client.post(f"/t/{tenant_a.slug}/members/invitations/{invitation.pk}/resend/").status_code == 404
    assert b"invitee" not in client.get(f"/t/{tenant_a.slug}/members/").content
    with tenant_scope(tenant_b):
        assert Invitation.objects.get().state == "pending"
