"""Schemathesis over the audit and export endpoints: documented statuses and shapes, no server error."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.tests import schemathesis_run
from api.tests.factories import make_created_key
from audit.tests.factories import make_event
from authors.tests.factories import make_author

pytestmark = pytest.mark.django_db

PATHS = r"^/api/v1/(audit(/\{id\})?|export)$"


def test_the_schema_documents_the_audit_log_and_the_export():
    paths = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"/api/v1/audit", "/api/v1/audit/{id}", "/api/v1/export"} <= set(paths)
    assert set(paths["/api/v1/audit"]) == {"get"}
    assert "application/zip" in paths["/api/v1/export"]["get"]["responses"]["200"]["content"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # a live server: its threads see only committed rows
def test_every_phase_of_schemathesis_passes_on_the_audit_and_export_endpoints(
    live_server, tenant_a, tenant_b
):
    make_event(tenant=tenant_a)
    make_event(tenant=tenant_b)
    make_author(tenant=tenant_a)
    headers = {"Authorization": f"Bearer {make_created_key(tenant=tenant_a, requests_per_minute=0).token}"}
    failures, scenarios = schemathesis_run.run(
        base_url=live_server.url, headers=headers, max_examples=5, paths=PATHS
    )
    assert failures == [], "\n".join(failures)
    assert scenarios
