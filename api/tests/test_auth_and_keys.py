"""Keys: stored hashed, shown once, revocable; scopes; sessions with an explicit tenant; rate limits."""

from __future__ import annotations

import hashlib
import re

import pytest
from rest_framework.test import APIClient

from api.models import ApiKey, Scope
from api.tests.factories import make_api_key
from orchestrator.tests.factories import make_author, make_definition, make_draft
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def test_no_key_and_a_bad_key_are_401_with_the_common_shape(tenant_a):
    anonymous = APIClient().get("/api/v1/authors")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    forged = APIClient(HTTP_AUTHORIZATION="Bearer mae_00000000_notarealsecret").get("/api/v1/authors")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_api_key"


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(api_for, tenant_a):
    api = api_for(tenant_a)
    tampered = api.token[:-4] + "AAAA"
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {tampered}").get("/api/v1/authors")
    assert response.status_code == 401


def test_keys_are_stored_hashed_and_a_revoked_key_is_401(api_for, tenant_a, client_for, members_a):
    api = api_for(tenant_a)
    with tenant_scope(tenant_a):
        key = ApiKey.objects.get(pk=api.key.pk)
    assert key.secret_hash == hashlib.sha256(api.token.encode()).hexdigest()
    assert api.token not in (key.prefix, key.secret_hash)
    assert api.get("/api/v1/authors").status_code == 200
    browser = client_for(members_a[Role.ADMIN])
    revoked = browser.post(f"/t/{tenant_a.slug}/api-keys/{key.pk}/revoke/")
    assert revoked.status_code == 302
    assert api.get("/api/v1/authors").status_code == 401


def test_a_read_key_cannot_generate_review_or_change_content(api_for, tenant_a):
    draft = make_draft(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    api = api_for(tenant_a, scopes=[Scope.READ])
    assert api.get("/api/v1/drafts").status_code == 200
    refused = api.post("/api/v1/generations", {"author": draft.author_id, "brief": "x"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"required_scope": "generate"}
    assert api.post(f"/api/v1/drafts/{draft.pk}/approve", {}, format="json").status_code == 403
    assert api.post(f"/api/v1/drafts/{draft.pk}/claim").status_code == 403
    assert api.post("/api/v1/authors", {"name": "New"}, format="json").status_code == 403
    chat = api.post(
        "/v1/chat/completions",
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    )
    assert chat.status_code == 403
    assert chat.json()["error"]["type"] == "permission_error"


def test_a_generate_key_cannot_read_or_review(api_for, tenant_a):
    draft = make_draft(tenant=tenant_a)
    api = api_for(tenant_a, scopes=[Scope.GENERATE])
    assert api.get("/api/v1/drafts").status_code == 403
    assert api.post(f"/api/v1/drafts/{draft.pk}/approve", {}, format="json").status_code == 403


def test_a_key_is_limited_to_its_requests_per_minute_with_retry_after(api_for, tenant_a):
    api = api_for(tenant_a, requests_per_minute=2)
    assert [api.get("/api/v1/authors").status_code for _ in range(2)] == [200, 200]
    limited = api.get("/api/v1/authors")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_a_session_user_names_the_tenant_and_gets_the_scopes_of_their_role(
    client_for, members_a, tenant_a, admin_b
):
    make_author(tenant=tenant_a)
    viewer = client_for(members_a[Role.VIEWER])
    assert viewer.get("/api/v1/authors").status_code == 400  # which tenant?
    assert viewer.get("/api/v1/authors", HTTP_X_TENANT=tenant_a.slug).status_code == 200
    assert viewer.get(f"/api/v1/authors?tenant={tenant_a.slug}").status_code == 200
    refused = viewer.post(
        "/api/v1/authors", {"name": "X"}, content_type="application/json", HTTP_X_TENANT=tenant_a.slug
    )
    assert refused.status_code == 403
    outsider = client_for(admin_b)
    assert outsider.get("/api/v1/authors", HTTP_X_TENANT=tenant_a.slug).status_code == 403


def test_a_session_post_needs_the_csrf_token(members_a, tenant_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(members_a[Role.EDITOR].user)
    response = client.post("/api/v1/authors", {"name": "X"}, format="json", HTTP_X_TENANT=tenant_a.slug)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


# ---- the browser pages ----------------------------------------------------------------------------


def test_an_admin_creates_a_key_shown_once(client_for, members_a, tenant_a):
    browser = client_for(members_a[Role.ADMIN])
    page = browser.post(
        f"/t/{tenant_a.slug}/api-keys/",
        {"name": "HubSpot", "scopes": ["read", "review"], "requests_per_minute": 30, "tokens_per_minute": 0},
    )
    assert page.status_code == 200
    with tenant_scope(tenant_a):
        key = ApiKey.objects.get()
    token = re.search(rf"mae_{key.prefix}_[A-Za-z0-9_-]+", page.content.decode()).group(0)
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/drafts").status_code == 200
    assert key.scopes == ["read", "review"]
    assert key.created_by == members_a[Role.ADMIN].user
    listing = browser.get(f"/t/{tenant_a.slug}/api-keys/").content.decode()
    assert "HubSpot" in listing
    assert token not in listing


def test_a_key_without_scopes_is_refused_by_the_form(client_for, members_a, tenant_a):
    page = client_for(members_a[Role.ADMIN]).post(
        f"/t/{tenant_a.slug}/api-keys/", {"name": "X", "scopes": []}
    )
    assert page.status_code == 200
    with tenant_scope(tenant_a):
        assert not ApiKey.objects.exists()


def test_only_admins_manage_keys(client_for, members_a, tenant_a):
    editor = client_for(members_a[Role.EDITOR])
    assert editor.get(f"/t/{tenant_a.slug}/api-keys/").status_code == 403
    assert editor.post(f"/t/{tenant_a.slug}/api-keys/", {"name": "X", "scopes": ["read"]}).status_code == 403


def test_an_admin_cannot_revoke_another_tenants_key(client_for, members_a, tenant_a, tenant_b):
    theirs = make_api_key(tenant=tenant_b)
    browser = client_for(members_a[Role.ADMIN])
    assert browser.post(f"/t/{tenant_a.slug}/api-keys/{theirs.pk}/revoke/").status_code == 404
    with tenant_scope(tenant_b):
        theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_key_identity_cannot_log_in(api_for, tenant_a):
    identity = api_for(tenant_a).key.identity
    assert not identity.is_active
    assert not identity.has_usable_password()
