"""Post metrics read as results: per author, per prompt version, per model, and an experiment's z-test."""

from __future__ import annotations

import math

import pytest

from console.tests.factories import make_trace
from orchestrator.tests.factories import make_author
from prompts.tests.factories import make_experiment
from publishing import metrics
from publishing.models import MetricSource, PostStatus
from publishing.tests.factories import make_approved_draft, make_post
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _delivered(tenant, counts, **draft_fields):
    post = make_post(
        tenant=tenant,
        status=PostStatus.DELIVERED,
        external_id=f"crm-{counts}",
        draft=make_approved_draft(tenant=tenant, **draft_fields),
    )
    with tenant_scope(tenant):
        impressions, reactions, comments, reposts = counts
        metrics.metrics_record(
            post=post,
            counts={
                "impressions": impressions,
                "reactions": reactions,
                "comments": comments,
                "reposts": reposts,
            },
            source=MetricSource.API,
        )
    return post


def test_the_z_test_matches_a_worked_example():
    # 50/1000 against 80/1000: pooled 6.5%, z = 0.03 / sqrt(0.065 * 0.935 * 0.002) = 2.721, p = 0.0065
    z, p_value = metrics.two_proportion_z_test(50, 1000, 80, 1000)
    assert math.isclose(z, 2.7211, abs_tol=1e-3)
    assert math.isclose(p_value, 0.0065, abs_tol=1e-4)


def test_an_experiment_suggests_a_winner_only_with_enough_evidence(tenant_a):
    experiment = make_experiment(tenant=tenant_a)
    _delivered(tenant_a, (60, 1, 0, 0), experiment_id=experiment.pk, variant="A")
    _delivered(tenant_a, (60, 9, 0, 0), experiment_id=experiment.pk, variant="B")
    with tenant_scope(tenant_a):
        early = metrics.experiment_results(experiment=experiment)
    assert early.suggested_winner is None
    assert "100 impressions" in early.reason
    _delivered(tenant_a, (1000, 30, 5, 5), experiment_id=experiment.pk, variant="A")
    _delivered(tenant_a, (1000, 31, 5, 5), experiment_id=experiment.pk, variant="B")
    with tenant_scope(tenant_a):
        close = metrics.experiment_results(experiment=experiment)
    assert close.suggested_winner is None  # 3.9% against 4.7%: not significant
    assert close.p_value is not None
    assert close.p_value > 0.05
    _delivered(tenant_a, (3000, 30, 0, 0), experiment_id=experiment.pk, variant="A")
    with tenant_scope(tenant_a):
        clear = metrics.experiment_results(experiment=experiment)
    assert clear.suggested_winner == "B"
    assert "An editor decides" in clear.reason
    with tenant_scope(tenant_a):
        experiment.refresh_from_db()
    assert experiment.is_running  # nothing was promoted or stopped


def test_results_per_author_version_and_model(tenant_a, tenant_b):
    author = make_author(tenant=tenant_a, name="Ana")
    first = _delivered(tenant_a, (1000, 40, 5, 5), author=author, prompt_version_id=7)
    second = _delivered(tenant_a, (500, 5, 0, 0), author=author, prompt_version_id=8)
    _delivered(tenant_b, (9999, 9, 9, 9))
    make_trace(tenant=tenant_a, flow_run_id=first.draft.run_id, model_alias="small-local")
    make_trace(tenant=tenant_a, flow_run_id=second.draft.run_id, model_alias="large-cloud")
    with tenant_scope(tenant_a):
        by_author = metrics.author_results(author_id=author.pk)
        by_version = metrics.results_by_prompt_version()
        by_model = metrics.results_by_model()
    assert by_author["totals"] == {
        "posts": 2,
        "impressions": 1500,
        "reactions": 45,
        "comments": 5,
        "reposts": 5,
    }
    assert [(row["prompt_version_id"], row["posts"]) for row in by_version] == [(7, 1), (8, 1)]
    assert [(row["model"], round(row["rate"], 3)) for row in by_model] == [
        ("small-local", 0.05),
        ("large-cloud", 0.01),
    ]


def test_metrics_are_refused_for_a_post_not_delivered_and_for_bad_counts(tenant_a, in_tenant_a):
    scheduled = make_post(tenant=tenant_a)
    counts = {"impressions": 1, "reactions": 0, "comments": 0, "reposts": 0}
    with pytest.raises(metrics.MetricsError, match="only delivered posts"):
        metrics.metrics_record(post=scheduled, counts=counts, source=MetricSource.API)
    delivered = make_post(tenant=tenant_a, status=PostStatus.DELIVERED)
    with pytest.raises(metrics.MetricsError, match="whole number"):
        metrics.metrics_record(post=delivered, counts={**counts, "reactions": -3}, source=MetricSource.API)
