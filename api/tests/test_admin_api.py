"""/api/v1/budgets, /webhooks, /members and /invitations: the tenant's administration. The admin scope,
and for a session the admin role, as the console requires; bad input changing nothing; tenant B
never showing through."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from api.models import Scope
from api.tests.factories import error_of
from audit.models import AuditEvent
from console.tests.factories import make_budget, make_delivery, make_webhook
from gateway.models import Budget
from orchestrator.tests.factories import make_author
from tenants.context import tenant_scope
from tenants.models import Invitation, Membership
from tenants.roles import Role
from tenants.tests.factories import make_invitation, make_member
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


ADMIN_LISTS = ["/api/v1/budgets", "/api/v1/webhooks", "/api/v1/members", "/api/v1/invitations"]


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_administration_needs_the_admin_scope_even_to_read(api_for, tenant_a, url):
    refused = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW, Scope.GENERATE]).get(url)
    assert refused.status_code == 403
    assert error_of(refused)["details"]["required_scope"] == "admin"
    assert api_for(tenant_a, scopes=[Scope.ADMIN]).get(url).status_code == 200


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_an_editor_session_is_refused_and_an_admin_session_allowed(client_for, members_a, tenant_a, url):
    editor = client_for(members_a[Role.EDITOR])
    refused = editor.get(url, HTTP_X_TENANT=tenant_a.slug)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    admin = client_for(members_a[Role.ADMIN])
    assert admin.get(url, HTTP_X_TENANT=tenant_a.slug).status_code == 200


# ---- budgets ----------------------------------------------------------------------------------------


def test_an_admin_key_sets_a_tenant_budget_and_sees_its_spend(api_for, tenant_a):
    client = api_for(tenant_a)
    body = {"scope": "tenant", "period": "month", "limit": "50.00", "alert_thresholds": [0.5, 0.9]}
    response = client.post("/api/v1/budgets", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["scope"], created["period"], created["limit"], created["alert_thresholds"]) == (
        "tenant",
        "month",
        "50.0000",
        [0.5, 0.9],
    )
    assert (created["spent_micros"], created["percent"]) == (0, 0.0)
    assert created["spend_source"] in ("ledger", "traces")
    assert created["resets_at"]
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="budget.created", target_id=str(created["id"])).exists()
    listed = client.get("/api/v1/budgets").json()["results"]
    assert [b["id"] for b in listed] == [created["id"]]


def test_changing_a_limit_and_pausing_a_budget(api_for, tenant_a):
    budget = make_budget(tenant=tenant_a, limit="10")
    response = api_for(tenant_a).patch(
        f"/api/v1/budgets/{budget.pk}", {"limit": "25", "is_active": False}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["limit"], response.json()["is_active"]) == ("25.0000", False)
    with tenant_scope(tenant_a):
        budget.refresh_from_db()
    assert (budget.limit, budget.is_active, budget.scope) == (Decimal("25"), False, "user")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"scope": "tenant", "period": "week", "limit": "5"}, 400, "period"),
        ({"scope": "tenant", "period": "day", "limit": "-1"}, 400, "limit"),
        ({"scope": "tenant", "period": "day", "limit": 5}, 400, "limit"),
        (
            {"scope": "tenant", "period": "day", "limit": "5", "alert_thresholds": [0]},
            422,
            "alert_thresholds",
        ),
        ({"scope": "user", "period": "day", "limit": "5"}, 422, "user"),
        ({"scope": "author", "period": "day", "limit": "5", "author": 2**40}, 422, "author"),
    ],
)
def test_a_bad_budget_is_refused_and_nothing_is_stored(api_for, tenant_a, body, status, field):
    response = api_for(tenant_a).post("/api/v1/budgets", body, format="json")
    assert response.status_code == status, response.json()
    assert field in error_of(response)["details"]
    with tenant_scope(tenant_a):
        assert not Budget.objects.exists()


def test_a_second_budget_for_the_same_subject_and_period_is_refused(api_for, tenant_a):
    client = api_for(tenant_a)
    body = {"scope": "tenant", "period": "day", "limit": "5"}
    assert client.post("/api/v1/budgets", body, format="json").status_code == 201
    again = client.post("/api/v1/budgets", {**body, "limit": "9"}, format="json")
    assert again.status_code == 422
    assert "exists already" in error_of(again)["message"]
    with tenant_scope(tenant_a):
        assert list(Budget.objects.values_list("limit", flat=True)) == [Decimal("5")]


def test_budgets_of_another_tenant_and_its_members_and_authors_stay_out(api_for, tenant_a, tenant_b, admin_b):
    foreign = make_budget(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/budgets/{foreign.pk}").status_code == 404
    assert client.patch(f"/api/v1/budgets/{foreign.pk}", {"limit": "1"}, format="json").status_code == 404
    assert client.get("/api/v1/budgets").json()["results"] == []
    their_member = {"scope": "user", "period": "day", "limit": "1", "user": admin_b.user_id}
    assert client.post("/api/v1/budgets", their_member, format="json").status_code == 422
    their_author = make_author(tenant=tenant_b, name="Bruno")
    body = {"scope": "author", "period": "day", "limit": "1", "author": their_author.pk}
    assert client.post("/api/v1/budgets", body, format="json").status_code == 422
    with tenant_scope(tenant_b):
        assert Budget.objects.get(pk=foreign.pk).limit == Decimal("10")
    with tenant_scope(tenant_a):
        assert not Budget.objects.exists()


def test_budgets_page_with_a_cursor(api_for, tenant_a):
    made = [make_budget(tenant=tenant_a) for _ in range(3)]
    client = api_for(tenant_a)
    first = client.get("/api/v1/budgets", {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    assert {b["id"] for b in first["results"] + second["results"]} == {b.pk for b in made}
    assert len(first["results"]) == 2
    assert second["next"] is None


# ---- webhooks ---------------------------------------------------------------------------------------


@pytest.fixture
def private_networks(settings):
    """Receivers in these tests live on loopback, which tenants may not reach unless the operator says."""
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = True


def test_a_webhook_is_created_with_its_secret_shown_once(api_for, tenant_a, private_networks):
    client = api_for(tenant_a)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["draft.approved", "post.delivered"]}
    response = client.post("/api/v1/webhooks", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["draft.approved", "post.delivered"]
    with tenant_scope(tenant_a):
        endpoint = WebhookEndpoint.objects.get(pk=created["id"])
        assert endpoint.secret() == created["secret"]
        assert AuditEvent.objects.filter(action="webhook.created").exists()
    shown_again = client.get(f"/api/v1/webhooks/{endpoint.pk}").json()
    assert "secret" not in shown_again
    assert all("secret" not in w for w in client.get("/api/v1/webhooks").json()["results"])


def test_an_internal_address_is_refused_unless_the_operator_allows_it(api_for, tenant_a, settings):
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
    response = api_for(tenant_a).post(
        "/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["draft.approved"]}, format="json"
    )
    assert response.status_code == 422
    assert "url" in error_of(response)["details"]
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "ftp://127.0.0.1/x", "events": ["draft.approved"]}, 422, "url"),
        ({"url": "http://127.0.0.1:9/hook", "events": []}, 400, "events"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["webhook.test"]}, 400, "events"),
        ({"url": "http://127.0.0.1:9/hook", "events": "draft.approved"}, 400, "events"),
    ],
)
def test_a_bad_webhook_is_refused(api_for, tenant_a, private_networks, body, status, field):
    response = api_for(tenant_a).post("/api/v1/webhooks", body, format="json")
    assert response.status_code == status, response.json()
    assert field in error_of(response)["details"]
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()


def test_a_webhook_is_updated_rotated_and_deleted(api_for, tenant_a, private_networks):
    endpoint = make_webhook(tenant=tenant_a)
    with tenant_scope(tenant_a):
        old_secret = endpoint.secret()
    client = api_for(tenant_a)
    changed = client.patch(
        f"/api/v1/webhooks/{endpoint.pk}", {"events": ["budget.alert"], "is_active": False}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["events"], changed.json()["is_active"]) == (["budget.alert"], False)
    bad = client.patch(f"/api/v1/webhooks/{endpoint.pk}", {"url": "gopher://x"}, format="json")
    assert bad.status_code == 422
    rotated = client.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret")
    assert rotated.status_code == 200
    with tenant_scope(tenant_a):
        endpoint.refresh_from_db()
        assert endpoint.secret() == rotated.json()["secret"] != old_secret
        assert endpoint.url == "http://127.0.0.1:9/hook"
    assert client.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 204
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"webhook.changed", "webhook.secret_rotated", "webhook.deleted"} <= actions


def test_a_webhooks_recent_deliveries_newest_first(api_for, tenant_a):
    endpoint = make_webhook(tenant=tenant_a)
    made = [make_delivery(tenant=tenant_a, endpoint=endpoint) for _ in range(3)]
    client = api_for(tenant_a)
    first = client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries", {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    ids = [d["id"] for d in first["results"] + second["results"]]
    assert ids == [str(d.pk) for d in reversed(made)]
    assert first["results"][0]["event"] == "draft.approved"


def test_webhooks_of_another_tenant_are_404_and_kept(api_for, tenant_a, tenant_b, private_networks):
    foreign = make_webhook(tenant=tenant_b)
    client = api_for(tenant_a)
    for method, url in [
        ("get", f"/api/v1/webhooks/{foreign.pk}"),
        ("patch", f"/api/v1/webhooks/{foreign.pk}"),
        ("delete", f"/api/v1/webhooks/{foreign.pk}"),
        ("get", f"/api/v1/webhooks/{foreign.pk}/deliveries"),
        ("post", f"/api/v1/webhooks/{foreign.pk}/rotate-secret"),
    ]:
        assert getattr(client, method)(url, {}, format="json").status_code == 404, (method, url)
    assert client.get("/api/v1/webhooks").json()["results"] == []
    with tenant_scope(tenant_b):
        assert WebhookEndpoint.objects.filter(pk=foreign.pk, is_active=True).exists()


# ---- members and invitations --------------------------------------------------------------------------


def test_members_are_listed_and_a_role_changed(api_for, tenant_a, members_a):
    client = api_for(tenant_a)
    listed = client.get("/api/v1/members").json()["results"]
    assert {m["id"] for m in listed} == {m.pk for m in members_a.values()}
    writer = members_a[Role.WRITER]
    response = client.patch(f"/api/v1/members/{writer.pk}", {"role": "editor"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["role"], response.json()["email"]) == ("editor", writer.user.email)
    assert client.patch(f"/api/v1/members/{writer.pk}", {"role": "owner"}, format="json").status_code == 400
    with tenant_scope(tenant_a):
        assert Membership.objects.get(pk=writer.pk).role == Role.EDITOR
        assert AuditEvent.objects.filter(action="member.role_changed").exists()


def test_the_last_admin_is_neither_demoted_nor_removed(api_for, tenant_a):
    admin = make_member(tenant=tenant_a, role=Role.ADMIN)
    client = api_for(tenant_a)
    demoted = client.patch(f"/api/v1/members/{admin.pk}", {"role": "viewer"}, format="json")
    assert demoted.status_code == 422
    assert "at least one admin" in error_of(demoted)["message"]
    assert client.delete(f"/api/v1/members/{admin.pk}").status_code == 422
    with tenant_scope(tenant_a):
        assert Membership.objects.get(pk=admin.pk).role == Role.ADMIN


def test_a_member_is_removed(api_for, tenant_a, members_a):
    viewer = members_a[Role.VIEWER]
    assert api_for(tenant_a).delete(f"/api/v1/members/{viewer.pk}").status_code == 204
    with tenant_scope(tenant_a):
        assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_members_of_another_tenant_are_404(api_for, tenant_a, admin_b, members_a):
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/members/{admin_b.pk}").status_code == 404
    assert client.patch(f"/api/v1/members/{admin_b.pk}", {"role": "viewer"}, format="json").status_code == 404
    assert client.delete(f"/api/v1/members/{admin_b.pk}").status_code == 404
    assert admin_b.pk not in {m["id"] for m in client.get("/api/v1/members").json()["results"]}
    with tenant_scope(admin_b.tenant):
        assert Membership.objects.get(pk=admin_b.pk).role == Role.ADMIN


def test_an_invitation_is_sent_resent_and_revoked(api_for, tenant_a, django_capture_on_commit_callbacks):
    client = api_for(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/invitations", {"email": "New.Person@Example.test", "role": "editor"}, format="json"
        )
    assert response.status_code == 201, response.json()
    invitation = response.json()
    assert (invitation["email"], invitation["role"], invitation["state"]) == (
        "new.person@example.test",
        "editor",
        "pending",
    )
    assert [m.to for m in mail.outbox] == [["new.person@example.test"]]
    assert "http://testserver/" in mail.outbox[0].body
    twice = client.post("/api/v1/invitations", {"email": "new.person@example.test"}, format="json")
    assert twice.status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(f"/api/v1/invitations/{invitation['id']}/resend")
    assert resent.status_code == 200
    assert len(mail.outbox) == 2
    assert mail.outbox[0].body != mail.outbox[1].body  # a new link
    revoked = client.post(f"/api/v1/invitations/{invitation['id']}/revoke")
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    assert client.get("/api/v1/invitations").json()["results"] == []
    assert client.post(f"/api/v1/invitations/{invitation['id']}/resend").status_code == 404


def test_a_bad_invitation_is_refused_and_nothing_sent(
    api_for, tenant_a, members_a, django_capture_on_commit_callbacks
):
    client = api_for(tenant_a)
    for body, status in [
        ({"email": "not-an-address"}, 400),
        ({"email": "x@example.test", "role": "owner"}, 400),
        ({"email": members_a[Role.WRITER].user.email}, 422),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/invitations", body, format="json")
        assert response.status_code == status, (body, response.json())
        error_of(response)
    assert mail.outbox == []
    with tenant_scope(tenant_a):
        assert not Invitation.objects.exists()


def test_invitations_of_another_tenant_are_404(api_for, tenant_a, tenant_b):
    foreign, _token = make_invitation(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/invitations/{foreign.pk}").status_code == 404
    assert client.post(f"/api/v1/invitations/{foreign.pk}/revoke").status_code == 404
    assert client.post(f"/api/v1/invitations/{foreign.pk}/resend").status_code == 404
    assert client.get("/api/v1/invitations").json()["results"] == []
    with tenant_scope(tenant_b):
        assert Invitation.objects.get(pk=foreign.pk).revoked_at is None
    assert mail.outbox == []
