"""Post metrics become router labels: a published post's engagement, against its author's usual, on the
labels of the calls that wrote it, in its own tenant only."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from console.tests.factories import make_llm_model, make_trace
from gateway.models import RouterLabel
from gateway.router_model.labels import router_labels_engagement_set
from orchestrator.models import RunStatus, StepRun, StepStatus
from orchestrator.router_labels import router_labels_collect
from orchestrator.tests.factories import make_author, make_run
from publishing import metrics, router_feedback
from publishing.models import MetricSource, PostStatus
from publishing.tests.factories import make_approved_draft, make_post
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


def _written_post(tenant, author, *, prompt="Write about onboarding"):
    """A delivered post whose draft one standard-tier call wrote (its trace keeps the prompt)."""
    run = make_run(tenant=tenant, author=author, status=RunStatus.SUCCEEDED)
    writer = make_llm_model(tenant=tenant, tier="standard")
    messages = [{"role": "system", "content": "You write posts."}, {"role": "user", "content": prompt}]
    trace = make_trace(
        tenant=tenant, id=uuid.uuid4(), model=writer, model_alias=writer.alias, prompt=messages
    )
    with tenant_scope(tenant):
        StepRun.objects.create(
            run=run, key="draft", step_type="generate", status=StepStatus.SUCCEEDED, position=1,
            call_ids=[str(trace.pk)],
        )  # fmt: skip
    draft = make_approved_draft(tenant=tenant, author=author, run=run)
    post = make_post(
        tenant=tenant, draft=draft, status=PostStatus.DELIVERED, delivered_at=timezone.now(),
        external_id=f"crm-{uuid.uuid4()}",
    )  # fmt: skip
    return post, trace


def _record(tenant, post, impressions, engaged):
    with tenant_scope(tenant):
        return metrics.metrics_record(
            post=post,
            counts={"impressions": impressions, "reactions": engaged, "comments": 0, "reposts": 0},
            source=MetricSource.API,
        )


def _usual(tenant, author, rates=(0.02, 0.04, 0.05)):
    """Earlier posts of the author with metrics: their median rate (4% here) is the author's usual."""
    for rate in rates:
        post = make_post(
            tenant=tenant,
            draft=make_approved_draft(tenant=tenant, author=author),
            status=PostStatus.DELIVERED,
            delivered_at=timezone.now(),
            external_id=f"crm-{uuid.uuid4()}",
        )
        _record(tenant, post, 1000, round(rate * 1000))


def _label(tenant, trace):
    with tenant_scope(tenant):
        return RouterLabel.objects.get(trace_id=trace.pk)


def test_relative_engagement_is_a_half_at_the_usual_rate_and_bounded():
    assert router_feedback.relative_engagement(0.04, 0.04) == 0.5
    assert router_feedback.relative_engagement(0.08, 0.04) == pytest.approx(2 / 3)
    assert router_feedback.relative_engagement(0.02, 0.04) == pytest.approx(1 / 3)
    assert router_feedback.relative_engagement(0.0, 0.04) == 0.0
    assert router_feedback.relative_engagement(0.5, 0.0) == 1.0
    assert router_feedback.relative_engagement(0.0, 0.0) == 0.5
    with pytest.raises(ValueError, match="not negative"):
        router_feedback.relative_engagement(-0.1, 0.04)
    assert router_feedback.engagement_rate(impressions=99, reactions=9, comments=0, reposts=0) is None
    assert router_feedback.engagement_rate(impressions=100, reactions=90, comments=90, reposts=0) == 1.0


def test_metrics_of_a_published_post_set_the_engagement_of_the_call_that_wrote_it(tenant_a):
    author = make_author(tenant=tenant_a)
    post, trace = _written_post(tenant_a, author)
    assert router_labels_collect(tenant=tenant_a) == 1
    assert _label(tenant_a, trace).engagement is None
    _usual(tenant_a, author)
    _record(tenant_a, post, 1000, 80)  # 8%: twice the author's usual
    label = _label(tenant_a, trace)
    assert label.engagement == pytest.approx(2 / 3)
    assert label.engagement_at is not None
    assert label.quality == 1.0  # the review's own figure is kept as it was
    _record(tenant_a, post, 2000, 40)  # a later collection: 2%, half the usual
    assert _label(tenant_a, trace).engagement == pytest.approx(1 / 3)


def test_metrics_that_arrive_before_the_labels_were_collected_are_not_lost(tenant_a):
    author = make_author(tenant=tenant_a)
    _usual(tenant_a, author)
    post, trace = _written_post(tenant_a, author)
    _record(tenant_a, post, 1000, 40)
    label = _label(tenant_a, trace)
    assert label.engagement == pytest.approx(0.5)
    assert label.text == "Write about onboarding"
    assert router_labels_collect(tenant=tenant_a) == 0  # the hourly collection finds it done


def test_without_a_usual_rate_or_enough_impressions_the_label_gets_no_engagement(tenant_a):
    author = make_author(tenant=tenant_a)
    post, trace = _written_post(tenant_a, author)
    router_labels_collect(tenant=tenant_a)
    _usual(tenant_a, author, rates=(0.02, 0.04))  # two earlier posts: no usual yet
    _record(tenant_a, post, 1000, 80)
    assert _label(tenant_a, trace).engagement is None
    _usual(tenant_a, author, rates=(0.05,))
    _record(tenant_a, post, 50, 10)  # 50 impressions: too few to say anything
    assert _label(tenant_a, trace).engagement is None


def test_engagement_never_reaches_another_tenants_labels(tenant_a, tenant_b):
    author_b = make_author(tenant=tenant_b)
    post_b, trace_b = _written_post(tenant_b, author_b)
    router_labels_collect(tenant=tenant_b)
    author_a = make_author(tenant=tenant_a)
    _usual(tenant_a, author_a)
    post_a, trace_a = _written_post(tenant_a, author_a)
    _record(tenant_a, post_a, 1000, 80)
    with tenant_scope(tenant_a):
        assert router_labels_engagement_set(draft_id=post_b.draft_id, engagement=1.0, at=timezone.now()) == 0
    assert _label(tenant_b, trace_b).engagement is None
    assert _label(tenant_a, trace_a).engagement == pytest.approx(2 / 3)
    # Tenant B's author has no history in B: A's posts are not B's usual.
    _record(tenant_b, post_b, 1000, 80)
    assert _label(tenant_b, trace_b).engagement is None


def test_an_engagement_outside_zero_to_one_is_refused(tenant_a):
    with tenant_scope(tenant_a), pytest.raises(ValueError, match=r"\[0, 1\]"):
        router_labels_engagement_set(draft_id=1, engagement=1.5, at=timezone.now())
