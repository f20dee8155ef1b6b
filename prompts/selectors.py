"""Reads of the prompt library: resolution for callers, listings, history and A/B results for pages.

Everything goes through the scoped managers: inside a tenant's scope a query sees that tenant's rows
and Maestro's shared ones, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.shortcuts import get_object_or_404

from gateway.providers.base import Message
from prompts.models import (
    PRODUCTION,
    PromptChange,
    PromptExperiment,
    PromptLabel,
    PromptOutcome,
    PromptTemplate,
    PromptVersion,
)
from prompts.rendering import render_version
from tenants.context import require_tenant


class PromptNotFoundError(LookupError):
    """No template of this purpose and name has a version under this label."""


@dataclass(frozen=True)
class ResolvedPrompt:
    version: PromptVersion
    variant: str = ""  # "" outside an experiment, else "A" or "B"
    experiment_id: int | None = None

    def render(self, variables: Mapping[str, Any]) -> list[Message]:
        return render_version(self.version, variables)

    @property
    def model_parameters(self) -> dict:
        """Keyword arguments for `gateway.GatewayRequest` (a tier name works as model alias)."""
        return {
            "model": self.version.tier,
            "temperature": float(self.version.temperature),
            "max_tokens": self.version.max_tokens,
        }


def resolve_prompt(
    *, purpose: str, name: str = "default", label: str = PRODUCTION, ab_key: str | None = None
) -> ResolvedPrompt:
    """The version to use now for the tenant in scope.

    The tenant's override wins over Maestro's default when it carries the label (an override with only
    a "staging" label leaves production on the default). For the production label, a running A/B
    experiment on the chosen template picks A or B deterministically from `ab_key` (use a stable id
    such as the draft's, so retries never flip); no key means A.
    """
    require_tenant()
    chosen = (
        PromptLabel.objects.filter(template__purpose=purpose, template__name=name, name=label)
        .select_related("version__template")
        .order_by(F("tenant_id").asc(nulls_last=True))  # the tenant's override first
        .first()
    )
    if chosen is None:
        raise PromptNotFoundError(f"No prompt {purpose}/{name} labelled {label!r}.")
    if label != PRODUCTION:
        return ResolvedPrompt(version=chosen.version)
    experiment = (
        PromptExperiment.objects.filter(template_id=chosen.template_id, stopped_at__isnull=True)
        .select_related("version_a__template", "version_b__template")
        .first()
    )
    if experiment is None:
        return ResolvedPrompt(version=chosen.version)
    variant = experiment.variant_for(ab_key)
    version = experiment.version_b if variant == "B" else experiment.version_a
    return ResolvedPrompt(version=version, variant=variant, experiment_id=experiment.pk)


# --- Single objects (404 for missing and for another tenant's alike) ----------------------------


def access_prompt_template(*, template_id: int) -> PromptTemplate:
    return get_object_or_404(PromptTemplate, pk=template_id)


def access_prompt_version(*, version_id: int) -> PromptVersion:
    return get_object_or_404(PromptVersion.objects.select_related("template", "created_by"), pk=version_id)


def access_prompt_experiment(*, experiment_id: int) -> PromptExperiment:
    return get_object_or_404(PromptExperiment.objects.select_related("template"), pk=experiment_id)


# --- Listings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryEntry:
    template: PromptTemplate  # what the tenant uses: its override, or Maestro's default
    default: PromptTemplate | None  # Maestro's default of the same purpose and name, if any
    production: PromptVersion | None

    @property
    def is_override(self) -> bool:
        return not self.template.is_shared and self.default is not None


def prompt_library() -> list[LibraryEntry]:
    """One entry per purpose and name: the tenant's template when it has one, else Maestro's."""
    require_tenant()
    templates = list(PromptTemplate.objects.order_by("purpose", "name"))
    defaults = {(t.purpose, t.name): t for t in templates if t.is_shared}
    own = {(t.purpose, t.name): t for t in templates if not t.is_shared}
    productions = {
        label.template_id: label.version
        for label in PromptLabel.objects.filter(name=PRODUCTION).select_related("version")
    }
    entries = []
    for key in sorted(defaults.keys() | own.keys()):
        template = own.get(key) or defaults[key]
        entries.append(LibraryEntry(template, defaults.get(key), productions.get(template.pk)))
    return entries


def shared_counterpart(*, template: PromptTemplate) -> PromptTemplate | None:
    """Maestro's default that a tenant template overrides, if any."""
    if template.is_shared:
        return None
    return PromptTemplate.objects.filter(
        tenant__isnull=True, purpose=template.purpose, name=template.name
    ).first()


def tenant_override(*, template: PromptTemplate) -> PromptTemplate | None:
    """The tenant's own template that overrides this Maestro default, if any."""
    if not template.is_shared:
        return None
    tenant = require_tenant()
    return PromptTemplate.objects.filter(tenant=tenant, purpose=template.purpose, name=template.name).first()


def template_versions(*, template: PromptTemplate) -> QuerySet[PromptVersion]:
    return PromptVersion.objects.filter(template=template).select_related("created_by").order_by("-number")


def template_labels(*, template: PromptTemplate) -> QuerySet[PromptLabel]:
    return PromptLabel.objects.filter(template=template).select_related("version").order_by("name")


def template_history(*, template: PromptTemplate) -> QuerySet[PromptChange]:
    return PromptChange.objects.filter(template=template).select_related("actor", "version", "from_version")


def template_experiments(*, template: PromptTemplate) -> QuerySet[PromptExperiment]:
    return PromptExperiment.objects.filter(template=template).select_related("version_a", "version_b")


def running_experiment(*, template: PromptTemplate) -> PromptExperiment | None:
    return template_experiments(template=template).filter(stopped_at__isnull=True).first()


# --- Outcomes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeStats:
    version: PromptVersion
    count: int
    approval_rate: float | None
    mean_edit_distance: float | None
    mean_cost_micros: float | None


def prompt_outcome_stats(
    *, versions: Iterable[PromptVersion], experiment: PromptExperiment | None = None
) -> list[OutcomeStats]:
    """Per version, in the order given: drafts counted, approval rate, mean edit distance, mean cost.

    With an experiment, only the outcomes attributed to it count.
    """
    versions = list(versions)
    outcomes = PromptOutcome.objects.filter(version__in=versions)
    if experiment is not None:
        outcomes = outcomes.filter(experiment=experiment)
    rows = {
        row["version"]: row
        for row in outcomes.values("version").annotate(
            count=Count("pk"),
            approved=Count("pk", filter=Q(approved=True)),
            edit=Avg("edit_distance"),
            cost=Avg("cost_micros"),
        )
    }
    stats = []
    for version in versions:
        row = rows.get(version.pk)
        count = row["count"] if row else 0
        stats.append(
            OutcomeStats(
                version=version,
                count=count,
                approval_rate=(row["approved"] / count) if row and count else None,
                mean_edit_distance=row["edit"] if row else None,
                mean_cost_micros=float(row["cost"]) if row and row["cost"] is not None else None,
            )
        )
    return stats
