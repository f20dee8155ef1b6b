"""The OpenAPI schema at its stable URL, the docs page (no CDN), and a property-based run of every
operation (schemathesis, through WSGI in this test's transaction): no input makes the server fail."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from api.tests.factories import make_created_key
from orchestrator.tests.factories import make_definition, make_draft
from prompts.tests.factories import make_template

pytestmark = pytest.mark.django_db

# Hypothesis' generated examples only (the exhaustive coverage phase takes minutes), bounded below.
FAST = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(), config=FAST).exclude(
    # Model calls: covered end to end against the fake provider in test_openai_compat.py.
    path="/v1/chat/completions"
)


def test_the_schema_is_served_at_a_stable_url_and_describes_both_apis():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/drafts/{id}/approve",
        "/api/v1/generations",
        "/api/v1/usage",
        "/v1/chat/completions",
    } <= set(paths)
    assert "ApiKey" in response.json()["components"]["securitySchemes"]


def test_the_docs_page_loads_swagger_ui_from_our_static_files():
    page = APIClient().get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """A bare WSGIHandler closes the database connection after each request (the test client
    prevents this the same way): the test's transaction must survive every generated request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key_headers(wsgi_keeps_the_test_connection, tenant_a, tenant_b):
    """Some data to find (in both tenants), and a key of tenant A with every scope and no rate limit."""
    make_definition(tenant=tenant_a)
    make_draft(tenant=tenant_a)
    make_draft(tenant=tenant_b)
    make_template(tenant=tenant_a)
    return {"Authorization": f"Bearer {make_created_key(tenant=tenant_a, requests_per_minute=0).token}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_generated_request_makes_the_api_fail(case, key_headers):
    case.call_and_validate(headers=key_headers, checks=[not_a_server_error])
