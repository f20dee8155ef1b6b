"""Reads for the writer's pages: runs, the review queue, diffs, learnings, series and review stats.

Every query goes through the scoped managers, so it only ever sees the tenant in scope.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from orchestrator.models import (
    FINISHED_STATUSES,
    FlowDefinition,
    FlowRun,
    FlowSecret,
    RunStatus,
    Series,
    StepRun,
)
from prompts.diffing import DiffLine
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


def live_flow_definition(name: str, *, shared_only: bool = False) -> FlowDefinition | None:
    """The version of `name` a new run starts: the tenant's own active one, else Maestro's (the newest
    active version of either, should several be marked active)."""
    candidates = FlowDefinition.objects.filter(name=name, is_active=True)
    if shared_only:
        candidates = candidates.filter(tenant__isnull=True)
    own = candidates.filter(tenant__isnull=False).order_by("-version").first()
    return own or candidates.filter(tenant__isnull=True).order_by("-version").first()


def access_flow_definition(*, definition_id: int) -> FlowDefinition:
    """A version the tenant sees (its own or Maestro's); 404 for missing and another tenant's alike."""
    return get_object_or_404(FlowDefinition.objects.select_related("created_by"), pk=definition_id)


def access_flow_version(*, name: str, version: int) -> FlowDefinition:
    """Version `version` of `name` as the tenant sees it (its own before Maestro's), or 404."""
    found = FlowDefinition.objects.filter(name=name, version=version).order_by("tenant_id").first()
    if found is None:  # ascending tenant_id puts NULL (Maestro's) last
        raise Http404(f"Flow {name} has no version {version}.")
    return found


def newest_flow_version(*, name: str) -> FlowDefinition:
    found = FlowDefinition.objects.filter(name=name).order_by("-version", "tenant_id").first()
    if found is None:
        raise Http404(f"There is no flow named {name}.")
    return found


@dataclass(frozen=True)
class FlowSummary:
    name: str
    live: FlowDefinition | None
    newest: FlowDefinition
    versions: int
    own: bool  # the tenant has versions of its own

    @property
    def shown(self) -> FlowDefinition:
        """The version a page opens: the live one, else the newest."""
        return self.live or self.newest


def flow_overview() -> list[FlowSummary]:
    """Every flow name the tenant sees, with its live version and how many versions it has."""
    names: dict[str, list[FlowDefinition]] = {}
    for definition in FlowDefinition.objects.order_by("name", "-version"):
        names.setdefault(definition.name, []).append(definition)
    return [
        FlowSummary(
            name=name,
            live=live_flow_definition(name),
            newest=versions[0],
            versions=len(versions),
            own=any(not d.is_shared for d in versions),
        )
        for name, versions in names.items()
    ]


def flow_exists(*, name: str) -> bool:
    """Whether the tenant sees a flow of that name (its own or Maestro's)."""
    return FlowDefinition.objects.filter(name=name).exists()


def flow_version_rows(*, name: str) -> QuerySet[FlowDefinition]:
    """Every version of `name` the tenant sees, newest first, each with `used` (a run of this tenant
    started it: it is history now)."""
    used = FlowRun.objects.filter(definition=OuterRef("pk"))
    return (
        FlowDefinition.objects.filter(name=name)
        .annotate(used=Exists(used))
        .select_related("created_by")
        .order_by("-version", "tenant_id")
    )


def mark_live(versions, *, name: str) -> None:
    """Set `live` on each version: whether it is the one new runs of `name` start."""
    live = live_flow_definition(name)
    for version in versions:
        version.live = live is not None and version.pk == live.pk


def flow_versions(*, name: str) -> list[FlowDefinition]:
    """`flow_version_rows` as a list, each also with `live` (the one new runs start)."""
    versions = list(flow_version_rows(name=name))
    mark_live(versions, name=name)
    return versions


def flow_definition_lines(definition: FlowDefinition) -> list[str]:
    lines = ["## Description", definition.description or "(none)"]
    for index, step in enumerate(definition.steps, start=1):
        label = f"{step.get('id')} ({step.get('type')})" if isinstance(step, dict) else "?"
        lines.append(f"## Step {index}: {label}")
        lines += json.dumps(step, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return lines


def flow_version_diff(old: FlowDefinition, new: FlowDefinition) -> list[DiffLine]:
    """Unified diff from `old` to `new` (description and each step as JSON); empty when the same."""
    raw_lines = difflib.unified_diff(flow_definition_lines(old), flow_definition_lines(new), lineterm="", n=3)
    kinds = {"@": "hunk", "+": "added", "-": "removed", " ": "context"}
    return [
        DiffLine(kinds[raw[0]], raw if raw[0] == "@" else raw[1:])
        for raw in raw_lines
        if not raw.startswith(("---", "+++"))
    ]


def flow_secrets() -> QuerySet[FlowSecret]:
    return FlowSecret.objects.all()


def access_flow_secret(*, name: str) -> FlowSecret:
    return get_object_or_404(FlowSecret, name=name)


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
