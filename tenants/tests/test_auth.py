import re

import pytest
from django.conf import settings
from django.core import mail

from tenants.roles import Role
from tenants.tests.factories import PASSWORD, UserFactory, make_member

pytestmark = pytest.mark.django_db


def test_passwords_are_hashed_with_argon2_outside_tests():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_login_with_email_lands_on_the_tenant_dashboard(client, tenant_a):
    membership = make_member(tenant=tenant_a, role=Role.WRITER)
    response = client.post("/accounts/login/", {"username": membership.user.email, "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(response.url, follow=True)
    assert response.redirect_chain[-1][0] == f"/t/{tenant_a.slug}/"
    assert b"Tenant A" in response.content


def test_repeated_failed_logins_lock_the_account_out(client, tenant_a):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": user.email, "password": "wrong-password"})
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_sends_a_working_link(client):
    user = UserFactory()
    response = client.post("/accounts/password_reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    new_password = "a-brand-new-passphrase"
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_password_change_requires_the_old_password(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "not-it",
            "new_password1": "another-passphrase",
            "new_password2": "another-passphrase",
        },
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_logout_needs_a_post_and_ends_the_session(client):
    client.force_login(UserFactory())
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.url == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_user_in_two_tenants_can_switch_between_them(client, tenant_a, tenant_b):
    user = UserFactory()
    make_member(tenant=tenant_a, user=user, role=Role.WRITER)
    make_member(tenant=tenant_b, user=user, role=Role.VIEWER)
    client.force_login(user)
    page = client.get(f"/t/{tenant_a.slug}/").content.decode()
    assert f'href="/t/{tenant_b.slug}/"' in page
    assert client.get(f"/t/{tenant_b.slug}/").status_code == 200
    # The home page remembers the tenant last visited.
    assert client.get("/").url == f"/t/{tenant_b.slug}/"


def test_user_without_tenant_sees_how_to_get_one(client):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert b"No tenant yet" in response.content


def test_staff_open_djangos_admin_across_tenants(client, members_a, admin_b):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.get("/admin/tenants/membership/")
    assert response.status_code == 200
    assert admin_b.user.email.encode() in response.content
    assert client.get(f"/admin/tenants/membership/{admin_b.pk}/change/").status_code == 200


def test_non_staff_cannot_open_djangos_admin(client, members_a):
    client.force_login(members_a[Role.ADMIN].user)
    assert client.get("/admin/").status_code == 302
