"""The author's page (authors app) shows their post results through publishing's panel
(authors/panels.py): totals and rate, latest posts with metrics and delivery status, per prompt version
and per model; another tenant's results never, and another tenant's author not at all."""

from __future__ import annotations

import pytest

from authors.panels import registered_panels
from console.tests.factories import make_trace
from orchestrator.tests.factories import make_author
from publishing import metrics
from publishing.models import MetricSource, PostStatus
from publishing.tests.factories import make_approved_draft, make_post
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _delivered(tenant, author, counts, **draft_fields):
    post = make_post(
        tenant=tenant,
        status=PostStatus.DELIVERED,
        external_id=f"urn:li:share:{counts[0]}",
        external_url=f"https://www.linkedin.com/feed/update/urn:li:share:{counts[0]}/",
        draft=make_approved_draft(tenant=tenant, author=author, **draft_fields),
    )
    with tenant_scope(tenant):
        metrics.metrics_record(
            post=post, counts=dict(zip(metrics.COUNTS, counts, strict=True)), source=MetricSource.LINKEDIN
        )
    return post


def _page(client, tenant, author) -> str:
    response = client.get(f"/t/{tenant.slug}/authors/{author.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_publishing_contributes_its_results_panel_to_the_author_page():
    assert "publishing-results" in [panel.name for panel in registered_panels()]


def test_the_author_page_shows_the_metrics_once_they_are_recorded(tenant_a, members_a, client_for):
    author = make_author(tenant=tenant_a, name="Ana Souza")
    client = client_for(members_a[Role.VIEWER])
    before = _page(client, tenant_a, author)
    assert 'id="post-results"' in before
    assert 'id="author-no-metrics"' in before

    first = _delivered(
        tenant_a, author, (1200, 40, 7, 3), body="Onboarding calls cut churn.", prompt_version_id=7
    )
    _delivered(tenant_a, author, (800, 8, 0, 0), body="Pricing pages that explain.", prompt_version_id=8)
    failed = make_post(
        tenant=tenant_a,
        status=PostStatus.FAILED,
        last_error="LinkedIn refused the call (403: no permission)",
        draft=make_approved_draft(tenant=tenant_a, author=author, body="A post that failed."),
    )
    make_trace(tenant=tenant_a, flow_run_id=first.draft.run_id, model_alias="small-local")

    page = _page(client, tenant_a, author)
    assert "<strong>2</strong> posts with metrics · <strong>2000</strong> impressions" in page
    assert "engagement 2.9%" in page  # (40 + 7 + 3 + 8) / 2000
    recent = page[page.index('id="author-recent-posts"') :]
    assert f'id="recent-post-{first.pk}"' in recent
    assert "Onboarding calls cut churn." in recent
    assert "Delivered" in recent
    assert "<td>1200</td><td>40</td><td>7</td><td>3</td>" in recent
    assert f'id="recent-post-{failed.pk}"' in recent
    assert "LinkedIn refused the call (403: no permission)" in recent
    by_version = page[page.index('id="author-by-version"') :]
    assert "<td>#7</td><td>1</td><td>1200</td><td>4.2%</td>" in by_version
    assert "<td>#8</td><td>1</td><td>800</td><td>1%</td>" in by_version
    by_model = page[page.index('id="author-by-model"') :]
    assert "<td>small-local</td><td>1</td><td>1200</td>" in by_model
    assert "<td>unknown</td><td>1</td><td>800</td>" in by_model


def test_the_results_are_the_authors_own_and_the_tenants_own(
    tenant_a, tenant_b, members_a, admin_b, client_for
):
    author = make_author(tenant=tenant_a, name="Ana Souza")
    other = make_author(tenant=tenant_a, name="Other Writer")
    theirs = make_author(tenant=tenant_b, name="Their Writer")
    _delivered(tenant_a, author, (1000, 10, 0, 0), prompt_version_id=7)
    _delivered(tenant_a, other, (5555, 55, 0, 0), body="The other writer's post.", prompt_version_id=7)
    _delivered(tenant_b, theirs, (7777, 77, 0, 0), body="Their tenant's post.", prompt_version_id=7)

    page = _page(client_for(members_a[Role.VIEWER]), tenant_a, author)
    assert "<strong>1000</strong> impressions" in page
    for foreign in ("5555", "7777", "The other writer", "Their tenant"):
        assert foreign not in page
    with tenant_scope(tenant_a):
        assert metrics.results_by_prompt_version(author_id=theirs.pk) == []
        assert metrics.results_by_model(author_id=theirs.pk) == []
        assert [row["impressions"] for row in metrics.results_by_prompt_version()] == [6555]

    # A member of tenant B reaches neither tenant A's author page nor its results.
    client = client_for(admin_b)
    assert client.get(f"/t/{tenant_a.slug}/authors/{author.pk}/").status_code in (403, 404)
    assert client.get(f"/t/{tenant_b.slug}/authors/{author.pk}/").status_code == 404
