"""Flows end to end on real Celery workers (separate processes), real Redis and PostgreSQL, and the
fake provider over HTTP."""

from __future__ import annotations

import json
import time

import pytest

from authors.models import Author
from authors.services import style_profile_save
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows import events
from orchestrator.flows.services import flow_definitions_install, flow_start
from orchestrator.models import FlowRun, RunStatus, StepRun, StepStatus
from prompts.services import prompt_defaults_install
from reviews.models import Draft, DraftState
from tenants.context import cross_tenant_access, tenant_scope
from testing.fake_server import Behaviour

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAIL = json.dumps(
    {"passes": False, "score": 5, "issues": ["Opening is generic"], "suggestions": ["Lead with the number"]}
)
PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})


@pytest.fixture
def flow_setup(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(
            author=author, created_by=None, tone="Direct, warm", banned_phrases=["game-changer"]
        )
    return author


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def _run_status(tenant, run_id):
    with tenant_scope(tenant):
        return FlowRun.objects.get(pk=run_id).status


def test_a_post_flow_runs_end_to_end_on_a_worker(tenant_a, flow_setup, fake_provider, celery_worker_process):
    fake_provider.enqueue(Behaviour(text="First draft: onboarding is a game-changer."), model="fake-standard")
    fake_provider.enqueue(
        Behaviour(text="Revised: 3 onboarding calls cut churn by 20%. #saas #b2b #growth #x"),
        model="fake-standard",
    )
    fake_provider.enqueue(Behaviour(text=FAIL), Behaviour(text=PASS), model="fake-small")
    celery_worker_process()
    with tenant_scope(tenant_a):
        run, created = flow_start(author=flow_setup, brief="Why we call every new customer in week one")
    assert created
    wait_for(lambda: _run_status(tenant_a, run.pk) in (RunStatus.SUCCEEDED, RunStatus.FAILED))
    with tenant_scope(tenant_a):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        keys = list(StepRun.objects.filter(run=run).order_by("started_at").values_list("key", "status"))
        draft = Draft.objects.get(run=run)
    assert [k for k, _ in keys] == [
        "memories",
        "draft",
        "review.critique.0",
        "review.revise.1",
        "review.critique.1",
        "polish",
    ]
    assert all(status == StepStatus.SUCCEEDED for _, status in keys)
    assert draft.state == DraftState.READY
    assert draft.body == "Revised: 3 onboarding calls cut churn by 20%. #saas #b2b #growth"  # 3 hashtags kept
    assert draft.revision_rounds == 1
    assert draft.critique["passes"] is True
    assert draft.profile.version == 1
    assert run.cost_micros > 0
    kinds = [kind for _id, kind, _data in events.read(run.pk)]
    assert "delta" in kinds
    assert kinds[-1] == "run"


def test_a_worker_killed_mid_flow_is_replaced_and_the_flow_completes_without_repeating_steps(
    tenant_a, flow_setup, fake_provider, celery_worker_process, monkeypatch
):
    # The redelivered message may take the run once its heartbeat is stale (orchestrator/sweeper.py).
    monkeypatch.setenv("MAESTRO_RUN_HEARTBEAT_SECONDS", "0.3")
    monkeypatch.setenv("MAESTRO_RUN_STALE_SECONDS", "1.5")
    fake_provider.enqueue(Behaviour(text="Draft one."), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS, headers_delay=4.0), model="fake-small")  # slow critic
    first = celery_worker_process(visibility_timeout=3)
    with tenant_scope(tenant_a):
        run, _ = flow_start(author=flow_setup, brief="What we learned from 100 onboarding calls")

    def critic_started():
        with tenant_scope(tenant_a):
            return StepRun.objects.filter(
                run=run, key="review.critique.0", status=StepStatus.RUNNING
            ).exists()

    wait_for(critic_started)
    first.kill()
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    celery_worker_process(visibility_timeout=3)
    wait_for(lambda: _run_status(tenant_a, run.pk) == RunStatus.SUCCEEDED, timeout=90)
    with tenant_scope(tenant_a):
        draft_step = StepRun.objects.get(run=run, key="draft")
        critic_step = StepRun.objects.get(run=run, key="review.critique.0")
        assert Draft.objects.get(run=run).body == "Draft one."
    assert draft_step.attempts == 1  # finished before the kill: not repeated, not paid twice
    assert critic_step.attempts == 2  # in progress at the kill: run again
    drafts_generated = [
        r for r in fake_provider.requests(model="fake-standard") if r.path.endswith("completions")
    ]
    assert len(drafts_generated) == 1


def test_a_flow_that_cannot_finish_says_why(tenant_a, flow_setup, fake_provider, celery_worker_process):
    fake_provider.set_behaviour(Behaviour(error="bad_request"))
    celery_worker_process()
    with tenant_scope(tenant_a):
        run, _ = flow_start(author=flow_setup, brief="A brief")
    wait_for(lambda: _run_status(tenant_a, run.pk) == RunStatus.FAILED)
    with tenant_scope(tenant_a):
        run.refresh_from_db()
        failed = StepRun.objects.get(run=run, status=StepStatus.FAILED)
    assert failed.key == "draft"
    assert "provider_rejected" in run.error


def test_the_same_idempotency_key_starts_one_run(tenant_a, flow_setup):
    with tenant_scope(tenant_a):
        first, created_first = flow_start(author=flow_setup, brief="Brief", idempotency_key="crm-123")
        second, created_second = flow_start(author=flow_setup, brief="Brief", idempotency_key="crm-123")
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
