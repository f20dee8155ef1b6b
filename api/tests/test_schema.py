"""The OpenAPI schema at its stable URL, the docs page (no CDN), and schemathesis over every operation
(its engine through WSGI, api/tests/schemathesis_run.py): every phase, every check, no failure."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from api.tests import schemathesis_run
from api.tests.factories import make_created_key
from console.tests.factories import make_budget, make_delivery, make_webhook
from gateway.tests.gateway_support import register_fake_models
from orchestrator.tests.factories import make_definition, make_draft, make_proposal, make_series
from prompts.tests.factories import make_experiment, make_template
from publishing.models import Delivery, DeliveryStatus, PostStatus
from publishing.tests.factories import make_post, make_schedule
from tenants.context import tenant_scope
from tenants.tests.factories import make_invitation
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


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
def key_headers(tenant_a, tenant_b):
    """Some data to find (in both tenants), and a key of tenant A with every scope and no rate limit."""
    make_definition(tenant=tenant_a)
    make_draft(tenant=tenant_a)
    make_draft(tenant=tenant_b)
    make_template(tenant=tenant_a)
    _planning_and_administration(tenant_a)
    return {"Authorization": f"Bearer {make_created_key(tenant=tenant_a, requests_per_minute=0).token}"}


def _planning_and_administration(tenant) -> None:
    """A row of each resource of /series ... /experiments, so that generated requests also find some."""
    series = make_series(tenant=tenant)
    make_schedule(tenant=tenant, author=series.author)
    post = make_post(tenant=tenant, status=PostStatus.FAILED)
    with tenant_scope(tenant):
        Delivery.objects.create(post=post, channel=post.channel, status=DeliveryStatus.FAILED, error="500")
    make_budget(tenant=tenant, scope="tenant", user=None)
    make_delivery(tenant=tenant, endpoint=make_webhook(tenant=tenant))
    make_proposal(tenant=tenant)
    make_experiment(tenant=tenant)
    make_invitation(tenant=tenant)


# One of each kind: a filtered, paginated list; a create; a detail and an action on it; a delete; a
# replace (PUT); model calls. The full run (docs/reliability.md) takes every operation.
FAST_PATHS = (
    r"^/(api/v1/(generations|memories(/\{id\})?|drafts/\{id\}/assign|schedules/\{author\})"
    r"|v1/chat/completions)$"
)


@pytest.fixture
def model_calls(tenant_a, fake_provider):
    """/v1/chat/completions is tested too: tenant A's models answer from the fake provider."""
    register_fake_models(tenant_a, fake_provider.base_url)
    fake_provider.set_behaviour(Behaviour(text="A short answer."))


@pytest.mark.django_db(transaction=True)  # a live server: its threads see only committed rows
def test_every_phase_and_check_of_schemathesis_passes(
    live_server, key_headers, model_calls, gateway_loop_cleanup
):
    """Examples, coverage, fuzzing and stateful phases with every check, few examples each, over one
    operation of each kind: no server error, no undocumented status, no invalid request accepted, no
    valid one refused."""
    failures, scenarios = schemathesis_run.run(
        base_url=live_server.url, headers=key_headers, max_examples=5, paths=FAST_PATHS
    )
    assert failures == [], "\n".join(failures)
    assert {"examples", "coverage", "fuzzing", "stateful"} <= {
        phase.split(".")[-1].lower() for phase in scenarios
    }


@pytest.mark.skipif(
    not os.environ.get("MAESTRO_SCHEMATHESIS_FULL"), reason="the full run: docs/reliability.md"
)
@pytest.mark.django_db(transaction=True)
def test_full_run(live_server, key_headers, model_calls, gateway_loop_cleanup):
    failures, scenarios = schemathesis_run.run(
        base_url=live_server.url, headers=key_headers, max_examples=100
    )
    print(f"schemathesis scenarios per phase: {scenarios}")
    assert failures == [], "\n".join(failures)
