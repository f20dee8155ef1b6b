"""schemathesis over the publishing endpoints (/api/v1/posts...): every phase and check, few examples."""

from __future__ import annotations

import pytest

from api.tests import schemathesis_run
from api.tests.factories import make_created_key
from publishing.models import PostStatus
from publishing.tests.factories import make_approved_draft, make_post, make_schedule

POST_PATHS = r"^/api/v1/posts"


@pytest.fixture
def key_headers(tenant_a, tenant_b):
    """Posts to find in both tenants, an approved draft to schedule, and a key of tenant A."""
    schedule = make_schedule(tenant=tenant_a)
    make_approved_draft(tenant=tenant_a, author=schedule.author)
    make_post(tenant=tenant_a)
    make_post(tenant=tenant_a, status=PostStatus.DELIVERED, external_id="crm-1")
    make_post(tenant=tenant_b)
    return {"Authorization": f"Bearer {make_created_key(tenant=tenant_a, requests_per_minute=0).token}"}


@pytest.mark.django_db(transaction=True)  # a live server: its threads see only committed rows
def test_every_phase_and_check_of_schemathesis_passes_on_the_posts_endpoints(live_server, key_headers):
    failures, scenarios = schemathesis_run.run(
        base_url=live_server.url, headers=key_headers, max_examples=5, paths=POST_PATHS
    )
    assert failures == [], "\n".join(failures)
    assert {"examples", "coverage", "fuzzing", "stateful"} <= {
        phase.split(".")[-1].lower() for phase in scenarios
    }
