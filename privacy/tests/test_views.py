"""The console's retention, erasure and export pages, and GET /api/v1/export."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from rest_framework.test import APIClient

from api.tests.factories import make_created_key
from audit.selectors import audit_events
from authors.models import Author
from authors.tests.factories import make_author
from memories.tests.factories import make_memory
from orchestrator.tests.factories import make_draft
from privacy.models import ErasureReport, RetentionPolicy, RetentionReport
from tenants.context import tenant_scope
from tenants.models import Tenant
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def console(tenant, page: str) -> str:
    return f"/t/{tenant.slug}/console/privacy/{page}"


def archive_of(content: bytes) -> tuple[dict, dict[str, list]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        tables = {
            name: json.loads(archive.read(name)) for name in archive.namelist() if name != "manifest.json"
        }
    return manifest, tables


# ---- retention ------------------------------------------------------------------------------------


def test_an_admin_sets_the_retention_policy_and_the_change_is_audited(tenant_a, members_a, client_for):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(
        console(tenant_a, "retention/"), {"trace_body_days": "30", "rejected_draft_days": ""}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        policy = RetentionPolicy.objects.get()
        [event] = audit_events(action="retention.policy_changed")
    assert (policy.trace_body_days, policy.rejected_draft_days) == (30, None)
    assert event.after == {"trace_body_days": 30, "cache_entry_days": None, "rejected_draft_days": None,
                           "finished_run_days": None}  # fmt: skip


def test_a_bad_policy_is_shown_with_its_error_and_saves_nothing(tenant_a, members_a, client_for):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(console(tenant_a, "retention/"), {"trace_body_days": "-3"})
    assert response.status_code == 200
    assert "greater than or equal to" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not RetentionPolicy.objects.exists()


def test_applying_retention_by_hand_leaves_a_report_on_the_page(tenant_a, members_a, client_for):
    client = client_for(members_a[Role.ADMIN])
    assert client.post(console(tenant_a, "retention/run/")).status_code == 302
    with tenant_scope(tenant_a):
        report = RetentionReport.objects.get()
    assert report.manual
    page = client.get(console(tenant_a, "retention/")).content.decode()
    assert "by hand" in page
    assert "If the saved policy ran now: 0 trace texts blanked" in page


def test_only_admins_reach_the_privacy_pages(tenant_a, members_a, client_for):
    for page in ("retention/", "erasure/", "export/"):
        assert client_for(members_a[Role.EDITOR]).get(console(tenant_a, page)).status_code == 403
        assert client_for(members_a[Role.ADMIN]).get(console(tenant_a, page)).status_code == 200


# ---- erasure --------------------------------------------------------------------------------------


def test_erasing_an_author_needs_their_name_typed_exactly(tenant_a, members_a, client_for):
    author = make_author(tenant=tenant_a, name="Ana Souza")
    make_memory(tenant=tenant_a, author=author)
    client = client_for(members_a[Role.ADMIN])
    refused = client.post(console(tenant_a, "erasure/"), {"author": author.pk, "confirm_name": "ana souza"})
    assert refused.status_code == 400
    assert "Type Ana Souza exactly" in refused.content.decode()
    assert Author.objects.unscoped().filter(pk=author.pk).exists()

    done = client.post(console(tenant_a, "erasure/"), {"author": author.pk, "confirm_name": "Ana Souza"})
    assert done.status_code == 302
    assert not Author.objects.unscoped().filter(pk=author.pk).exists()
    page = client.get(console(tenant_a, "erasure/")).content.decode()
    assert f"author #{author.pk}" in page
    assert "memories.memory: 1" in page


def test_another_tenants_author_is_not_a_choice(tenant_a, tenant_b, members_a, client_for):
    theirs = make_author(tenant=tenant_b, name="Not Yours")
    client = client_for(members_a[Role.ADMIN])
    response = client.post(console(tenant_a, "erasure/"), {"author": theirs.pk, "confirm_name": "Not Yours"})
    assert response.status_code == 400
    assert Author.objects.unscoped().filter(pk=theirs.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_tenant_is_erased_from_the_console_only_after_an_export(tenant_a, members_a, client_for):
    client = client_for(members_a[Role.ADMIN])
    wrong = client.post(console(tenant_a, "erasure/tenant/"), {"confirm_slug": "tenant-b"})
    assert wrong.status_code == 400
    not_exported = client.post(console(tenant_a, "erasure/tenant/"), {"confirm_slug": tenant_a.slug})
    assert "Export the tenant" in not_exported.content.decode()
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()

    assert client.post(console(tenant_a, "export/"), {"author": ""}).status_code == 200
    erased = client.post(console(tenant_a, "erasure/tenant/"), {"confirm_slug": tenant_a.slug})
    assert erased.status_code == 302
    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
    assert ErasureReport.objects.unscoped().get(subject_id=tenant_a.pk).tenant_id is None


# ---- export ---------------------------------------------------------------------------------------


def test_the_tenant_export_holds_every_table_without_secrets(tenant_a, tenant_b, members_a, client_for):
    draft = make_draft(tenant=tenant_a)
    make_memory(tenant=tenant_a, author=draft.author)
    make_draft(tenant=tenant_b, body="Tenant B's own words.")
    make_created_key(tenant=tenant_a)
    client = client_for(members_a[Role.ADMIN])
    response = client.post(console(tenant_a, "export/"), {"author": ""})
    assert response["Content-Type"] == "application/zip"
    manifest, tables = archive_of(b"".join(response.streaming_content))
    assert manifest["scope"] == "tenant"
    assert manifest["tenant"]["slug"] == tenant_a.slug
    assert [row["body"] for row in tables["reviews.draft.json"]] == [draft.body]
    assert len(tables["tenants.members.json"]) == len(members_a)
    assert "secret_hash" not in tables["api.apikey.json"][0]
    assert manifest["left_out"]["api.apikey.json"] == ["secret_hash"]
    [memory] = tables["memories.memory.json"]
    assert {"embedding", "search_vector"}.isdisjoint(memory)
    assert memory["embedding_model"] == "test/fixed"
    assert "Tenant B" not in json.dumps(tables)
    assert manifest["files"]["reviews.draft.json"] == 1
    with tenant_scope(tenant_a):
        assert audit_events(action="export.tenant").count() == 1
    assert "reviews.draft.json: 1" in client.get(console(tenant_a, "export/")).content.decode()


def test_the_author_export_holds_only_that_authors_rows(tenant_a, members_a, client_for):
    ana, bo = make_author(tenant=tenant_a, name="Ana"), make_author(tenant=tenant_a, name="Bo")
    make_memory(tenant=tenant_a, author=ana, text="Ana's memory")
    make_memory(tenant=tenant_a, author=bo, text="Bo's memory")
    client = client_for(members_a[Role.ADMIN])
    response = client.post(console(tenant_a, "export/"), {"author": ana.pk})
    manifest, tables = archive_of(b"".join(response.streaming_content))
    assert manifest["scope"] == "author"
    assert manifest["author_id"] == ana.pk
    assert [row["text"] for row in tables["memories.memory.json"]] == ["Ana's memory"]
    assert [row["name"] for row in tables["authors.author.json"]] == ["Ana"]
    with tenant_scope(tenant_a):
        [event] = audit_events(action="export.author")
    assert event.target_id == str(ana.pk)
    assert "Ana" not in event.target_label


def test_the_api_exports_the_tenant_or_an_author_and_refuses_others(tenant_a, tenant_b):
    author = make_author(tenant=tenant_a)
    theirs = make_author(tenant=tenant_b)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_created_key(tenant=tenant_a, scopes=['admin']).token}"
    )
    response = client.get("/api/v1/export", {"author": author.pk})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    manifest, _ = archive_of(b"".join(response.streaming_content))
    assert manifest["author_id"] == author.pk
    assert client.get("/api/v1/export", HTTP_ACCEPT="application/zip").status_code == 200
    assert client.get("/api/v1/export", {"author": theirs.pk}).status_code == 404
    bad = client.get("/api/v1/export", {"author": "abc"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    asked_zip = client.get("/api/v1/export", {"author": "abc"}, HTTP_ACCEPT="application/zip")
    assert asked_zip["Content-Type"] == "application/json"
    assert asked_zip.json()["error"]["code"] == "validation_error"
    read_only = APIClient()
    read_only.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_created_key(tenant=tenant_a, scopes=['read']).token}"
    )
    assert read_only.get("/api/v1/export").json()["error"]["details"] == {"required_scope": "admin"}
    with tenant_scope(tenant_a):
        assert audit_events(action="export.").count() == 2
