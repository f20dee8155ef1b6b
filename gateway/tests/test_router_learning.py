"""Learning from review labels: a retrain that is promoted, one that is rejected in shadow, rollback,
and labels that never cross tenants unless a tenant opts in."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

import gateway
from gateway.embeddings import get_embedder
from gateway.models import ArtefactStatus, RouterArtefact, RouterLabel, RouterMode, RouterPool, Trace
from gateway.router_model import store
from gateway.router_model.features import feature_matrix
from gateway.router_model.labels import ENGAGEMENT_WEIGHT, router_labels_engagement_set, training_target
from gateway.router_model.learning import MIN_NEW_LABELS, router_retrain
from gateway.router_model.model import RouterModel
from gateway.router_model.services import router_dial_save, router_rollback
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from gateway.tests.router_support import easy_text, hard_text, install_prior
from tenants.context import cross_tenant_access, tenant_scope

pytestmark = pytest.mark.django_db

EASY = easy_text(random.Random(2))


@pytest.fixture
def prior(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    return install_prior()


def add_labels(tenant, outcomes: list[tuple[str, str, float]], *, start=None) -> None:
    """(kind "easy"/"hard", arm, quality) per label, decided one minute apart in this order."""
    rng = random.Random(len(outcomes))
    start = start or timezone.now() - timedelta(days=1)
    texts = [easy_text(rng) if kind == "easy" else hard_text(rng) for kind, _, _ in outcomes]
    vectors = get_embedder().embed(texts)
    with tenant_scope(tenant):
        RouterLabel.objects.bulk_create(
            RouterLabel(
                tenant=tenant,
                trace_id=uuid.uuid4(),
                draft_id=i,
                purpose="post",
                model_alias="premium-a" if arm == "strong" else "standard-a",
                tier="premium" if arm == "strong" else "standard",
                arm=arm,
                text=text,
                embedding=vector,
                embedding_model=get_embedder().model_id,
                quality=quality,
                approved=quality > 0,
                decided_at=start + timedelta(minutes=i),
            )
            for i, ((_, arm, quality), text, vector) in enumerate(zip(outcomes, texts, vectors, strict=True))
        )


def cheap_tier_fails_on_easy_work(n: int) -> list[tuple[str, str, float]]:
    """This tenant's reviewers reject what the cheaper tier writes even for easy requests."""
    return [("easy", "weak", 0.0) if i % 2 else ("hard", "strong", 1.0) for i in range(n)]


def _retrain(tenant, **options):
    with tenant_scope(tenant):
        return router_retrain(tenant_id=tenant.pk, **options)


def _dial(tenant, **fields):
    values = {
        "mode": RouterMode.QUALITY_FLOOR,
        "premium_share": 0.3,
        "quality_floor": 0.9,
        "share_labels": False,
    }
    with tenant_scope(tenant):
        return router_dial_save(tenant=tenant, **{**values, **fields})


def _model_for(tenant, text):
    response = run_with_runtime(lambda rt: gateway.complete(request_for(tenant, text), runtime=rt))
    with tenant_scope(tenant):
        return response.model, Trace.objects.get(pk=response.call_id).routing["router"]


def test_labels_that_contradict_the_prior_train_a_router_that_is_promoted_and_changes_the_choice(
    tenant_a, prior, fake_provider
):
    register_fake_models(tenant_a, fake_provider.base_url)
    _dial(tenant_a)
    assert _model_for(tenant_a, EASY)[0] == "standard-a"
    add_labels(tenant_a, cheap_tier_fails_on_easy_work(80))
    outcome = _retrain(tenant_a)
    assert outcome.status == "promoted", outcome.reason
    with tenant_scope(tenant_a):
        artefact = RouterArtefact.objects.get(pk=outcome.artefact_id)
    assert artefact.status == ArtefactStatus.ACTIVE
    assert artefact.shadow["candidate_log_loss"] < artefact.shadow["current_log_loss"]
    assert artefact.shadow["current_version"] == prior.version
    assert artefact.training["base_version"] == prior.version
    model, router = _model_for(tenant_a, EASY)
    assert model == "premium-a"
    assert router["version"] == artefact.version


def test_a_candidate_trained_on_labels_the_recent_ones_contradict_is_rejected_in_shadow(
    tenant_a, prior, fake_provider
):
    register_fake_models(tenant_a, fake_provider.base_url)
    _dial(tenant_a)
    old = cheap_tier_fails_on_easy_work(60)
    recent = [("easy", "weak", 1.0) if i % 2 else ("hard", "strong", 1.0) for i in range(20)]
    add_labels(tenant_a, old + recent)
    outcome = _retrain(tenant_a)
    assert outcome.status == "rejected", outcome.reason
    with tenant_scope(tenant_a):
        rejected = RouterArtefact.objects.get(pk=outcome.artefact_id)
    assert rejected.status == ArtefactStatus.REJECTED
    assert rejected.shadow["candidate_log_loss"] > rejected.shadow["current_log_loss"]
    assert rejected.shadow["promote"] is False
    model, router = _model_for(tenant_a, EASY)
    assert model == "standard-a"
    assert router["version"] == prior.version


def test_retraining_waits_for_enough_new_labels(tenant_a, prior):
    add_labels(tenant_a, cheap_tier_fails_on_easy_work(MIN_NEW_LABELS - 1))
    assert _retrain(tenant_a).status == "skipped"
    add_labels(tenant_a, cheap_tier_fails_on_easy_work(40), start=timezone.now() - timedelta(hours=1))
    assert _retrain(tenant_a).status == "promoted"
    assert _retrain(tenant_a).status == "skipped"  # nothing new since


def test_rollback_returns_to_the_previous_router_and_keeps_the_history(tenant_a, prior, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    _dial(tenant_a)
    add_labels(tenant_a, cheap_tier_fails_on_easy_work(80))
    promoted = _retrain(tenant_a)
    assert _model_for(tenant_a, EASY)[0] == "premium-a"
    with tenant_scope(tenant_a):
        assert router_rollback(tenant=tenant_a) is None  # there was no earlier own router: the prior again
        retired = RouterArtefact.objects.get(pk=promoted.artefact_id)
    assert retired.status == ArtefactStatus.RETIRED
    model, router = _model_for(tenant_a, EASY)
    assert model == "standard-a"
    assert router["version"] == prior.version


def test_labels_never_cross_tenants_unless_both_opt_in(tenant_a, tenant_b, prior):
    add_labels(tenant_b, cheap_tier_fails_on_easy_work(80))
    assert _retrain(tenant_a).status == "skipped"  # tenant A has no labels of its own
    assert _retrain(tenant_b).status == "promoted"
    with cross_tenant_access("test: the opt-in prior"):
        assert router_retrain(tenant_id=None, force=True).status == "skipped"  # nobody opted in
    _dial(tenant_b, share_labels=True)
    with cross_tenant_access("test: the opt-in prior"):
        pooled = router_retrain(tenant_id=None, force=True)
    assert pooled.status == "promoted"
    # Tenant A did not opt in: it still routes on the public prior, never on B's labels.
    assert store.active_artefact_row(tenant_a.pk, share_labels=False)["version"] == prior.version
    opted_in = store.active_artefact_row(tenant_a.pk, share_labels=True)
    assert opted_in["pool"] == RouterPool.OPT_IN


def test_a_tenants_router_built_on_the_pooled_prior_is_ignored_once_it_opts_out(tenant_a, tenant_b, prior):
    for tenant in (tenant_a, tenant_b):
        _dial(tenant, share_labels=True)
    add_labels(tenant_b, cheap_tier_fails_on_easy_work(80))
    with cross_tenant_access("test: the opt-in prior"):
        assert router_retrain(tenant_id=None, force=True).status == "promoted"
    # Tenant A's reviewers reject what premium writes on easy requests: news to the pooled prior too.
    add_labels(tenant_a, [("easy", "strong", 0.0) if i % 2 else ("hard", "strong", 1.0) for i in range(80)])
    outcome = _retrain(tenant_a)
    assert outcome.status == "promoted", outcome.reason
    own = store.active_artefact_row(tenant_a.pk, share_labels=True)
    assert own["pool"] == RouterPool.TENANT
    assert own["training__base_pool"] == RouterPool.OPT_IN
    assert store.active_artefact_row(tenant_a.pk, share_labels=False)["version"] == prior.version


def _weak_quality(artefact_id: int, text: str) -> float:
    with cross_tenant_access("test: reading an artefact's parameters"):
        params = RouterArtefact.objects.unscoped().get(pk=artefact_id).params
    x = feature_matrix([text], ["post"], np.asarray(get_embedder().embed([text])))
    return float(RouterModel(params).qualities("weak", x)[0])


def test_engagement_of_published_posts_is_trained_on_and_counts_as_new_labels(tenant_a, prior):
    # Reviewers approve every draft of the cheaper tier as written; what the posts earned differs.
    add_labels(tenant_a, [("hard", "weak", 1.0) if i % 2 == 0 else ("easy", "weak", 1.0) for i in range(80)])
    before = _retrain(tenant_a)
    assert before.status != "skipped"
    assert _retrain(tenant_a).status == "skipped"  # nothing new
    rng = random.Random(5)
    hard, easy = hard_text(rng), easy_text(rng)
    gap_before = _weak_quality(before.artefact_id, easy) - _weak_quality(before.artefact_id, hard)
    with tenant_scope(tenant_a):
        for draft_id in range(80):  # posts on hard requests engaged far below their author's usual
            engagement = 0.0 if draft_id % 2 == 0 else 0.9
            router_labels_engagement_set(draft_id=draft_id, engagement=engagement, at=timezone.now())
    after = _retrain(tenant_a)
    assert after.status != "skipped", after.reason  # engagement that arrived since is news
    with tenant_scope(tenant_a):
        training = RouterArtefact.objects.get(pk=after.artefact_id).training
    assert training["with_engagement"] == training["labels"]
    gap_after = _weak_quality(after.artefact_id, easy) - _weak_quality(after.artefact_id, hard)
    assert gap_after > gap_before + 0.05


def test_the_training_target_blends_review_quality_with_engagement():
    assert training_target(0.8, None) == 0.8
    assert training_target(1.0, 0.5) == pytest.approx(1 - ENGAGEMENT_WEIGHT / 2)
    assert training_target(0.0, 1.0) == pytest.approx(ENGAGEMENT_WEIGHT)
    assert training_target(1.0, 0.0) < training_target(1.0, 1.0)
