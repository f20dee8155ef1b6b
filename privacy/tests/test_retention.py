"""Retention: each rule removes what is past its days and nothing else; every run leaves a report."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from console.tests.factories import make_trace
from gateway.models import SemanticCacheEntry, Trace
from memories.tests.factories import unit_vector
from orchestrator.models import FlowRun, RunStatus, StepRun
from orchestrator.tests.factories import make_draft, make_run
from privacy.models import RetentionPolicy, RetentionReport
from privacy.services import retention_apply, retention_policy_save, retention_preview
from privacy.tasks import purge_expired_cache, retention_run, retention_run_all
from reviews.models import Draft, DraftState, DraftTransition
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=5)


def set_policy(tenant, **days) -> RetentionPolicy:
    with tenant_scope(tenant):
        policy = RetentionPolicy.objects.first() or RetentionPolicy()
        for name, value in days.items():
            setattr(policy, name, value)
        return retention_policy_save(policy=policy, actor=None)


def cache_entry(tenant, *, created_at=None, expires_at=None) -> SemanticCacheEntry:
    with tenant_scope(tenant):
        entry = SemanticCacheEntry.objects.create(
            purpose="post", model_class="standard", scope_hash="s", request_text="brief", request_hash="h",
            embedding=unit_vector(1), embedding_model="test/fixed", response_text="cached",
            expires_at=expires_at or NOW + timedelta(days=1),
        )  # fmt: skip
        if created_at is not None:
            SemanticCacheEntry.objects.filter(pk=entry.pk).update(created_at=created_at)
        return entry


def body_of(trace: Trace) -> tuple:
    trace = Trace.objects.unscoped().get(pk=trace.pk)
    return trace.prompt, trace.response, trace.input_tokens, trace.cost_micros


def test_old_trace_bodies_are_blanked_and_their_metrics_kept(tenant_a, tenant_b):
    prompt = [{"role": "user", "content": "Write about onboarding"}]
    fields = {"prompt": prompt, "response": "A post.", "input_tokens": 120, "cost_micros": 900}
    old = make_trace(tenant=tenant_a, created_at=OLD, **fields)
    recent = make_trace(tenant=tenant_a, created_at=RECENT, **fields)
    elsewhere = make_trace(tenant=tenant_b, created_at=OLD, **fields)
    set_policy(tenant_a, trace_body_days=30)

    report = retention_apply(tenant=tenant_a, now=NOW)

    assert body_of(old) == ([], "", 120, 900)
    assert body_of(recent) == (prompt, "A post.", 120, 900)
    assert body_of(elsewhere) == (prompt, "A post.", 120, 900)
    assert report.removed["trace_bodies"] == 1
    assert retention_apply(tenant=tenant_a, now=NOW).removed["trace_bodies"] == 0  # blank once


def test_expired_and_old_cache_entries_go_and_fresh_ones_stay(tenant_a, tenant_b):
    expired = cache_entry(tenant_a, expires_at=NOW - timedelta(minutes=1))
    old = cache_entry(tenant_a, created_at=OLD)
    fresh = cache_entry(tenant_a, created_at=RECENT)
    other = cache_entry(tenant_b, created_at=OLD)

    assert retention_apply(tenant=tenant_a, now=NOW).removed["cache_entries"] == 1  # no days set: expiry only
    set_policy(tenant_a, cache_entry_days=30)
    assert retention_apply(tenant=tenant_a, now=NOW).removed["cache_entries"] == 1

    remaining = set(SemanticCacheEntry.objects.unscoped().values_list("pk", flat=True))
    assert remaining == {fresh.pk, other.pk}
    assert expired.pk not in remaining
    assert old.pk not in remaining


def test_rejected_drafts_past_their_days_go_with_their_history_and_nothing_else(tenant_a):
    old_rejected = make_draft(tenant=tenant_a, state=DraftState.REJECTED, decided_at=OLD)
    with tenant_scope(tenant_a):
        DraftTransition.objects.create(draft=old_rejected, from_state="ready", to_state="rejected")
    recent_rejected = make_draft(tenant=tenant_a, state=DraftState.REJECTED, decided_at=RECENT)
    old_approved = make_draft(tenant=tenant_a, state=DraftState.APPROVED, decided_at=OLD)
    set_policy(tenant_a, rejected_draft_days=30)

    report = retention_apply(tenant=tenant_a, now=NOW)

    assert set(Draft.objects.unscoped().values_list("pk", flat=True)) == {recent_rejected.pk, old_approved.pk}
    assert report.removed["rejected_drafts"] == 1
    assert report.details["reviews.drafttransition"] == 1


def test_finished_runs_past_their_days_go_unless_their_draft_is_still_in_review(tenant_a):
    old_done = make_run(tenant=tenant_a, status=RunStatus.SUCCEEDED, finished_at=OLD)
    with tenant_scope(tenant_a):
        StepRun.objects.create(run=old_done, key="write", step_type="llm")
    old_failed = make_run(tenant=tenant_a, status=RunStatus.FAILED, finished_at=OLD)
    reviewing = make_draft(tenant=tenant_a, state=DraftState.READY)
    FlowRun.objects.unscoped().filter(pk=reviewing.run_id).update(finished_at=OLD)
    decided = make_draft(tenant=tenant_a, state=DraftState.APPROVED, decided_at=OLD)
    FlowRun.objects.unscoped().filter(pk=decided.run_id).update(finished_at=OLD)
    recent_done = make_run(tenant=tenant_a, status=RunStatus.SUCCEEDED, finished_at=RECENT)
    running = make_run(tenant=tenant_a, status=RunStatus.RUNNING)
    set_policy(tenant_a, finished_run_days=30)

    with tenant_scope(tenant_a):
        preview = retention_preview(now=NOW)
    assert FlowRun.objects.unscoped().count() == 6  # a preview changes nothing

    report = retention_apply(tenant=tenant_a, now=NOW)

    assert report.removed == preview
    kept = set(FlowRun.objects.unscoped().values_list("pk", flat=True))
    assert kept == {reviewing.run_id, recent_done.pk, running.pk}
    assert {old_done.pk, old_failed.pk, decided.run_id}.isdisjoint(kept)
    assert Draft.objects.unscoped().filter(pk=decided.pk, run__isnull=True).exists()  # the draft stays
    assert report.removed["finished_runs"] == 3
    assert report.details["orchestrator.steprun"] == 1


def test_an_empty_policy_keeps_everything_but_expired_cache_entries(tenant_a):
    trace = make_trace(tenant=tenant_a, created_at=OLD, response="kept")
    draft = make_draft(tenant=tenant_a, state=DraftState.REJECTED, decided_at=OLD)

    report = retention_apply(tenant=tenant_a, now=NOW)

    assert report.removed == {"trace_bodies": 0, "cache_entries": 0, "rejected_drafts": 0, "finished_runs": 0}
    assert body_of(trace)[1] == "kept"
    assert Draft.objects.unscoped().filter(pk=draft.pk).exists()


def test_a_policy_refuses_days_that_are_not_a_positive_count(tenant_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="trace_body_days"):
        set_policy(tenant_a, trace_body_days=0)
    with tenant_scope(tenant_a):
        assert not RetentionPolicy.objects.exists()


def test_the_scheduled_jobs_are_registered_run_a_tenant_and_report_what_they_removed(tenant_a):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"privacy.tasks.retention_run_all", "privacy.tasks.cache_purge_expired"} <= schedule
    assert {"privacy.tasks.retention_run_all", "privacy.tasks.retention_run"} <= set(app.tasks)
    make_trace(tenant=tenant_a, created_at=OLD, response="old")
    set_policy(tenant_a, trace_body_days=30)
    cache_entry(tenant_a, expires_at=NOW - timedelta(minutes=1))
    assert purge_expired_cache.apply().get() == 1

    removed = retention_run.apply(args=[tenant_a.pk]).get()

    assert removed["trace_bodies"] == 1
    with tenant_scope(tenant_a):
        report = RetentionReport.objects.get()
    assert (report.removed, report.manual, report.policy["trace_body_days"]) == (removed, False, 30)
    assert retention_run.apply(args=[999_999]).get() is None  # a tenant that is gone: nothing to do


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # a worker process reads only committed rows
def test_the_daily_job_applies_every_tenants_policy_on_a_real_worker(
    tenant_a, tenant_b, celery_worker_process
):
    old_a = make_trace(tenant=tenant_a, created_at=OLD, response="old words of A")
    old_b = make_trace(tenant=tenant_b, created_at=OLD, response="old words of B")
    set_policy(tenant_a, trace_body_days=30)  # tenant B keeps everything
    celery_worker_process(concurrency=2)

    assert retention_run_all.delay().get(timeout=60) == 2
    deadline = time.monotonic() + 60
    while RetentionReport.objects.unscoped().count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)

    reports = {r.tenant_id: r.removed["trace_bodies"] for r in RetentionReport.objects.unscoped().all()}
    assert reports == {tenant_a.pk: 1, tenant_b.pk: 0}
    assert body_of(old_a)[1] == ""
    assert body_of(old_b)[1] == "old words of B"
