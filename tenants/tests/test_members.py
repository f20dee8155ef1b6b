import pytest
from django.core import mail

from tenants import services
from tenants.context import tenant_scope
from tenants.models import Membership, User
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def test_adding_a_person_by_the_service_gives_a_new_address_a_set_password_email(
    tenant_a, rf, django_capture_on_commit_callbacks
):
    request = rf.post("/")
    with django_capture_on_commit_callbacks(execute=True):
        services.member_add(
            tenant=tenant_a, email="New.Person@Example.test", role=Role.EDITOR, request=request
        )
    user = User.objects.get(email="new.person@example.test")
    assert not user.has_usable_password()
    with tenant_scope(tenant_a):
        assert Membership.objects.get(user=user).role == Role.EDITOR
    assert mail.outbox[0].to == ["new.person@example.test"]


def test_adding_an_existing_member_again_is_a_clear_form_error(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    email = members_a[Role.WRITER].user.email
    response = client.post(f"/t/{tenant_a.slug}/members/", {"email": email, "role": "viewer"})
    assert response.status_code == 200
    assert b"already a member" in response.content


def test_bad_input_is_refused_with_the_form_shown_again(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(f"/t/{tenant_a.slug}/members/", {"email": "not-an-email", "role": "overlord"})
    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content
    assert b"Select a valid choice" in response.content


def test_admin_changes_a_role_with_htmx(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    writer = members_a[Role.WRITER]
    response = client.post(
        f"/t/{tenant_a.slug}/members/{writer.pk}/role/", {"role": "editor"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert f'id="member-{writer.pk}"'.encode() in response.content
    assert b"<html" not in response.content
    writer.refresh_from_db()
    assert writer.role == Role.EDITOR


def test_the_last_admin_cannot_be_demoted_or_removed(client_for, members_a, tenant_a):
    admin = members_a[Role.ADMIN]
    client = client_for(admin)
    client.post(f"/t/{tenant_a.slug}/members/{admin.pk}/role/", {"role": "viewer"})
    client.post(f"/t/{tenant_a.slug}/members/{admin.pk}/remove/")
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_admin_removes_a_member(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    viewer = members_a[Role.VIEWER]
    client.post(f"/t/{tenant_a.slug}/members/{viewer.pk}/remove/")
    with tenant_scope(tenant_a):
        assert not Membership.objects.filter(pk=viewer.pk).exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.WRITER, Role.VIEWER])
def test_only_admins_manage_members(client_for, members_a, tenant_a, role):
    client = client_for(members_a[role])
    assert client.get(f"/t/{tenant_a.slug}/members/").status_code == 200
    response = client.post(f"/t/{tenant_a.slug}/members/", {"email": "x@example.test", "role": "admin"})
    assert response.status_code == 403
    assert not User.objects.filter(email="x@example.test").exists()
