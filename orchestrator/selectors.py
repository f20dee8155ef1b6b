"""Reads for the writer's pages: runs, the review queue, diffs, learnings, series and review stats.

Every query goes through the scoped managers, so it only ever sees the tenant in scope.
"""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from orchestrator.models import FINISHED_STATUSES, FlowDefinition, FlowRun, RunStatus, Series, StepRun
from reviews.models import Draft, DraftState

FINISHED_RUN = FINISHED_STATUSES  # needs_attention too: the run is over, its draft is in the queue


# ---- single objects (404 for missing and foreign alike) -------------------------------------------


def access_run(*, run_id: int) -> FlowRun:
    return get_object_or_404(FlowRun.objects.select_related("author", "definition", "created_by"), pk=run_id)


def draft_of_run(*, run) -> Draft | None:
    """The draft a run produces (it exists from the run's first step on)."""
    return Draft.objects.filter(run=run).first()


def access_series(*, series_id: int) -> Series:
    return get_object_or_404(Series.objects.select_related("author"), pk=series_id)


# ---- flows and runs -------------------------------------------------------------------------------


def flow_choices() -> list[tuple[str, str]]:
    """(name, label) of each active flow: the tenant's own version wins over Maestro's shared one."""
    chosen: dict[str, FlowDefinition] = {}
    for definition in FlowDefinition.objects.filter(is_active=True).order_by("name", "-version"):
        current = chosen.get(definition.name)
        if current is None or (current.tenant_id is None and definition.tenant_id is not None):
            chosen[definition.name] = definition
    return [
        (name, f"{name}: {d.description}" if d.description else name) for name, d in sorted(chosen.items())
    ]


def run_steps(*, run: FlowRun) -> list[StepRun]:
    return list(StepRun.objects.filter(run=run).order_by("position", "started_at"))


def runs_in_progress() -> QuerySet[FlowRun]:
    return FlowRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])


# ---- review queue ---------------------------------------------------------------------------------


def work_counts() -> dict[str, int]:
    """Figures for the dashboard tiles."""
    return {
        "ready": Draft.objects.filter(state=DraftState.READY).count(),
        "in_review": Draft.objects.filter(state=DraftState.IN_REVIEW).count(),
        "running": runs_in_progress().count(),
    }


# ---- diffs ------------------------------------------------------------------------------------------


# ---- learning ---------------------------------------------------------------------------------------


# ---- series -----------------------------------------------------------------------------------------


def series_list() -> QuerySet[Series]:
    return Series.objects.select_related("author", "periodic_task").annotate(run_count=Count("flowrun"))


def series_drafts(*, series: Series, limit: int = 10) -> list[Draft]:
    return list(
        Draft.objects.filter(run__series=series).select_related("author").order_by("-created_at")[:limit]
    )
