"""The console's audit log and the /api/v1/audit endpoint."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rest_framework.test import APIClient

from api.tests.factories import make_created_key
from audit.selectors import audit_events
from audit.tests.factories import make_event
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def test_admins_read_and_filter_the_log(tenant_a, tenant_b, members_a, client_for):
    make_event(tenant=tenant_a, action="budget.changed")
    make_event(tenant=tenant_a, action="route.created")
    make_event(tenant=tenant_b, action="member.removed")
    client = client_for(members_a[Role.ADMIN])
    page = client.get(f"/t/{tenant_a.slug}/console/audit/").content.decode()
    assert "budget.changed" in page
    assert "route.created" in page
    assert "member.removed" not in page  # tenant B's
    filtered = client.get(f"/t/{tenant_a.slug}/console/audit/", {"action": "route."}).content.decode()
    assert "route.created</code>" in filtered
    assert "budget.changed</code>" not in filtered


def test_only_admins_see_the_log(tenant_a, members_a, client_for):
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        assert client_for(members_a[role]).get(f"/t/{tenant_a.slug}/console/audit/").status_code == 403


def test_the_log_downloads_as_csv_and_json_with_the_filter_applied(tenant_a, members_a, client_for):
    make_event(tenant=tenant_a, action="budget.changed", after={"limit": "25"})
    make_event(tenant=tenant_a, action="route.created")
    client = client_for(members_a[Role.ADMIN])
    response = client.get(f"/t/{tenant_a.slug}/console/audit/export.csv", {"action": "budget.changed"})
    assert response["Content-Disposition"].startswith('attachment; filename="audit-tenant-a-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["action"], json.loads(row["after"])) for row in rows] == [
        ("budget.changed", {"limit": "25"})
    ]
    document = client.get(f"/t/{tenant_a.slug}/console/audit/export.json").json()
    assert {event["action"] for event in document} == {"budget.changed", "route.created"}


def test_a_bad_filter_is_refused_in_the_download_and_shown_on_the_page(tenant_a, members_a, client_for):
    client = client_for(members_a[Role.ADMIN])
    response = client.get(f"/t/{tenant_a.slug}/console/audit/export.csv", {"since": "yesterday"})
    assert response.status_code == 400
    assert b"since" in response.content
    page = client.get(f"/t/{tenant_a.slug}/console/audit/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert "The end comes after the start." in page.content.decode()


# ---- /api/v1/audit -------------------------------------------------------------------------------


def api(tenant, scopes=None) -> APIClient:
    client = APIClient()
    token = make_created_key(tenant=tenant, scopes=scopes, requests_per_minute=0).token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_api_lists_the_tenants_events_newest_first_with_cursor_pages(tenant_a, tenant_b):
    client = api(tenant_a, scopes=["admin"])
    for action in ("budget.changed", "route.created", "route.deleted"):
        make_event(tenant=tenant_a, action=action)
    make_event(tenant=tenant_b, action="member.removed")
    first = client.get("/api/v1/audit", {"page_size": 2}).json()
    # the key's own creation is an event too
    assert [e["action"] for e in first["results"]] == ["route.deleted", "route.created"]
    rest = client.get(first["next"]).json()
    assert [e["action"] for e in rest["results"]] == ["budget.changed", "api_key.created"]
    routes = client.get("/api/v1/audit", {"action": "route."}).json()["results"]
    assert {e["action"] for e in routes} == {"route.created", "route.deleted"}


def test_the_api_needs_the_admin_scope_and_for_sessions_the_admin_role(tenant_a, members_a):
    response = api(tenant_a, scopes=["read", "review"]).get("/api/v1/audit")
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"required_scope": "admin"}
    session = APIClient()
    session.force_login(members_a[Role.EDITOR].user)  # an editor has the admin scope for content
    assert session.get("/api/v1/audit", HTTP_X_TENANT=tenant_a.slug).status_code == 403
    session.force_login(members_a[Role.ADMIN].user)
    assert session.get("/api/v1/audit", HTTP_X_TENANT=tenant_a.slug).status_code == 200


def test_the_api_refuses_bad_filters_and_other_tenants_events(tenant_a, tenant_b):
    other = make_event(tenant=tenant_b)
    client = api(tenant_a, scopes=["admin"])
    response = client.get("/api/v1/audit", {"from": "not a date"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    empty_range = client.get("/api/v1/audit", {"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"})
    assert empty_range.json()["results"] == []
    assert client.get(f"/api/v1/audit/{other.pk}").status_code == 404


def test_the_api_takes_no_changes_to_events(tenant_a):
    event = make_event(tenant=tenant_a)
    client = api(tenant_a, scopes=["admin"])
    assert client.patch(f"/api/v1/audit/{event.pk}", {"action": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/audit/{event.pk}").status_code == 405
    assert client.post("/api/v1/audit", {}, format="json").status_code == 405


def test_a_console_change_records_the_admin_who_made_it(tenant_a, members_a, client_for):
    admin = members_a[Role.ADMIN]
    response = client_for(admin).post(
        f"/t/{tenant_a.slug}/console/budgets/",
        {"scope": "tenant", "period": "day", "limit": "10", "is_active": "on", "thresholds": "80, 100"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        [event] = audit_events(action="budget.created")
    assert (event.actor_user_id, event.ip, event.after["limit"]) == (admin.user.pk, "198.51.100.7", "10")
