"""Reviewed drafts become router labels for the calls that wrote them, in their own tenant only."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from console.tests.factories import make_llm_model, make_trace
from gateway.models import RouterLabel
from gateway.tests.router_support import install_prior
from orchestrator import tasks
from orchestrator.models import RunStatus, StepRun, StepStatus
from orchestrator.router_labels import router_labels_collect
from orchestrator.tests.factories import make_draft, make_run
from reviews.models import DraftState
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


def _reviewed_run(
    tenant, *, state, edit_distance=None, writer_tier="standard", prompt="Write about onboarding"
):
    run = make_run(tenant=tenant, status=RunStatus.SUCCEEDED)
    writer = make_llm_model(tenant=tenant, tier=writer_tier)
    critic = make_llm_model(tenant=tenant, tier="small")
    messages = [{"role": "system", "content": "You write posts."}, {"role": "user", "content": prompt}]
    written = make_trace(
        tenant=tenant, id=uuid.uuid4(), model=writer, model_alias=writer.alias, prompt=messages
    )
    judged = make_trace(
        tenant=tenant,
        id=uuid.uuid4(),
        purpose="critique",
        model=critic,
        model_alias=critic.alias,
        prompt=messages,
    )
    cached = make_trace(tenant=tenant, id=uuid.uuid4(), model=writer, cache_hit=True, prompt=messages)
    with tenant_scope(tenant):
        StepRun.objects.create(
            run=run, key="draft", step_type="generate", status=StepStatus.SUCCEEDED, position=1,
            call_ids=[str(written.pk), str(cached.pk)],
        )  # fmt: skip
        StepRun.objects.create(
            run=run, key="review.critique.0", step_type="critique", status=StepStatus.SUCCEEDED, position=2,
            call_ids=[str(judged.pk)],
        )  # fmt: skip
    make_draft(
        tenant=tenant, run=run, state=state, edit_distance=edit_distance, decided_at=timezone.now(),
        critique={"passes": True, "score": 8},
    )  # fmt: skip
    return written


def test_an_approved_draft_labels_the_call_that_wrote_it_with_one_minus_the_edit_distance(tenant_a):
    written = _reviewed_run(tenant_a, state=DraftState.APPROVED, edit_distance=0.25)
    assert router_labels_collect(tenant=tenant_a) == 1
    with tenant_scope(tenant_a):
        label = RouterLabel.objects.get()
    assert label.trace_id == written.pk
    assert label.quality == pytest.approx(0.75)
    assert (label.arm, label.tier, label.approved) == ("weak", "standard", True)
    assert label.text == "Write about onboarding"  # the router's text: the first user turn
    assert label.critic_score == 8


def test_a_rejected_draft_written_by_premium_is_a_zero_for_the_strong_side(tenant_a):
    _reviewed_run(tenant_a, state=DraftState.REJECTED, writer_tier="premium")
    router_labels_collect(tenant=tenant_a)
    with tenant_scope(tenant_a):
        label = RouterLabel.objects.get()
    assert (label.arm, label.quality, label.approved) == ("strong", 0.0, False)


def test_collecting_twice_adds_nothing_and_drafts_in_review_are_not_labels(tenant_a):
    _reviewed_run(tenant_a, state=DraftState.APPROVED, edit_distance=0.0)
    _reviewed_run(tenant_a, state=DraftState.IN_REVIEW)
    assert router_labels_collect(tenant=tenant_a) == 1
    assert router_labels_collect(tenant=tenant_a) == 0
    with tenant_scope(tenant_a):
        assert RouterLabel.objects.count() == 1


def test_labels_stay_in_the_tenant_of_the_draft(tenant_a, tenant_b):
    _reviewed_run(tenant_b, state=DraftState.APPROVED, edit_distance=0.0)
    assert router_labels_collect(tenant=tenant_a) == 0
    assert router_labels_collect(tenant=tenant_b) == 1
    with tenant_scope(tenant_a):
        assert not RouterLabel.objects.exists()
    with tenant_scope(tenant_b):
        assert RouterLabel.objects.get().tenant_id == tenant_b.pk


def test_the_learning_task_collects_labels_and_waits_for_enough_of_them(tenant_a):
    install_prior()
    _reviewed_run(tenant_a, state=DraftState.APPROVED, edit_distance=0.0)
    assert tasks.router_learn(tenant_a.pk) == "skipped"
    with tenant_scope(tenant_a):
        assert RouterLabel.objects.count() == 1
    assert tasks.router_learn(10**9) == "tenant gone"
