"""Reviewed drafts as labels for the learned router: each one labels the calls that wrote it.

The calls that wrote a draft are those of its run's writing steps (generate, fanout, revise —
including a revision a reviewer asked for), minus the critic's calls and answers served from the
semantic cache. Each gets the draft's outcome: rejected 0, approved 1 - edit distance. The critic's
score is kept beside the label for reading but does not enter training: it is another model's
opinion, on a scale the prompt leaves open.

This lives in orchestrator because it reads reviews (drafts) and orchestrator (step runs) and writes
the gateway's labels; the gateway imports neither.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import Max

from gateway.models import RouterLabel, Trace, TraceStatus
from gateway.router_model.labels import LabelInput, outcome_quality, router_labels_add
from gateway.router_model.learning import LearningOutcome, router_retrain
from gateway.router_model.services import router_recalibrate
from orchestrator.models import StepRun
from reviews.models import Draft, DraftState
from tenants.context import cross_tenant_access, tenant_scope
from tenants.models import Tenant

WRITER_STEPS = ("generate", "fanout", "revise")
DECIDED = (DraftState.APPROVED, DraftState.REJECTED, DraftState.DELIVERED)
OVERLAP = timedelta(hours=1)  # drafts decided just before the last collection are looked at again


def _critic_score(draft: Draft) -> float | None:
    score = (draft.critique or {}).get("score")
    return float(score) if isinstance(score, int | float) else None


def _writer_call_ids(run_ids: list[int]) -> dict[int, list[uuid.UUID]]:
    calls: dict[int, list[uuid.UUID]] = {}
    for run_id, call_ids in StepRun.objects.filter(
        run_id__in=run_ids, step_type__in=WRITER_STEPS
    ).values_list("run_id", "call_ids"):
        for call_id in call_ids or []:
            calls.setdefault(run_id, []).append(uuid.UUID(str(call_id)))
    return calls


def router_labels_collect(*, tenant: Tenant, draft_ids: list[int] | None = None) -> int:
    """Label the writing calls of drafts decided since the last collection (or of `draft_ids`, when
    publishing needs a draft's labels before the next collection); returns the new labels."""
    with tenant_scope(tenant):
        drafts = Draft.objects.filter(state__in=DECIDED, decided_at__isnull=False, run__isnull=False)
        if draft_ids is not None:
            drafts = drafts.filter(pk__in=draft_ids)
        elif (newest := RouterLabel.objects.aggregate(newest=Max("decided_at"))["newest"]) is not None:
            drafts = drafts.filter(decided_at__gte=newest - OVERLAP)
        drafts_by_run = {
            d.run_id: d
            for d in drafts.only("pk", "run_id", "state", "edit_distance", "critique", "decided_at")
        }
        calls = _writer_call_ids([run_id for run_id in drafts_by_run if run_id is not None])
        writing = set(
            Trace.objects.filter(
                pk__in=[c for ids in calls.values() for c in ids], status=TraceStatus.OK, cache_hit=False
            )
            .exclude(purpose="critique")
            .values_list("pk", flat=True)
        )
        labels = []
        for run_id, call_ids in calls.items():
            draft = drafts_by_run[run_id]
            approved = draft.state != DraftState.REJECTED
            for call_id in call_ids:
                if call_id not in writing:
                    continue
                labels.append(
                    LabelInput(
                        trace_id=call_id,
                        draft_id=draft.pk,
                        quality=outcome_quality(approved=approved, edit_distance=draft.edit_distance),
                        approved=approved,
                        edit_distance=draft.edit_distance,
                        critic_score=_critic_score(draft),
                        decided_at=draft.decided_at,
                    )
                )
        return router_labels_add(tenant=tenant, labels=labels)


def router_learn(*, tenant: Tenant, force: bool = False) -> LearningOutcome:
    """Collect the tenant's new labels, then retrain, shadow-evaluate and maybe promote its router."""
    router_labels_collect(tenant=tenant)
    with tenant_scope(tenant):
        outcome = router_retrain(tenant_id=tenant.pk, force=force)
        if outcome.status == "promoted":
            router_recalibrate(tenant=tenant)
        return outcome


def router_learn_pooled(*, force: bool = False) -> LearningOutcome:
    """The opt-in prior, from the labels of the tenants that opted in (and only theirs)."""
    with cross_tenant_access("router: the opt-in prior pools labels of tenants that chose to share them"):
        return router_retrain(tenant_id=None, force=force)


def learning_tenant_ids() -> list[int]:
    """Tenants whose router may learn: active ones (each step returns early when nothing is new)."""
    return list(Tenant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))
