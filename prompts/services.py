"""Writes to the prompt library. Keyword arguments only; every change leaves a PromptChange row.

Versions are immutable: editing saves a new version. Maestro's global templates (tenant NULL) are
read-only inside a tenant's scope: editing one creates the tenant's override template, which starts
with a copy of the global production version so that rolling back to it is always possible.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import record as audit_record
from gateway.cache import cache_invalidate
from prompts.defaults import DEFAULT_PROMPTS
from prompts.models import (
    PRODUCTION,
    ChangeKind,
    ModelTier,
    PromptChange,
    PromptExperiment,
    PromptLabel,
    PromptOutcome,
    PromptTemplate,
    PromptVersion,
    Purpose,
)
from prompts.rendering import PromptSyntaxError, validate_messages, validate_variables
from tenants.context import current_tenant, require_tenant
from tenants.models import Tenant, User

LABEL_NAME_MAX = 40


def _refuse_shared_write(template: PromptTemplate) -> None:
    if template.is_shared and current_tenant() is not None:
        raise PermissionDenied(
            f"{template.key} is one of Maestro's defaults and read-only here: save a new version to "
            "create your own override."
        )


def _record(*, template: PromptTemplate, kind: str, actor: User | None, **fields) -> PromptChange:
    # On a shared template inside a tenant's scope (an experiment), the row becomes the tenant's own.
    return PromptChange.objects.create(
        tenant=template.tenant, template=template, kind=kind, actor=actor, **fields
    )


def _lock(template: PromptTemplate) -> PromptTemplate:
    """Serialise writes to one template (version numbers, label moves) on its row."""
    return PromptTemplate.objects.select_for_update().get(pk=template.pk)


def _clean_parameters(*, tier: str, temperature: Any, max_tokens: Any) -> dict:
    errors = {}
    if tier not in ModelTier.values:
        errors["tier"] = f"Choose one of {', '.join(ModelTier.values)}."
    try:
        temperature = Decimal(str(temperature)).quantize(Decimal("0.01"))
        if not Decimal(0) <= temperature <= Decimal(2):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["temperature"] = "Temperature is a number from 0 to 2."
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 16 <= max_tokens <= 32000:
        errors["max_tokens"] = "Max tokens is a whole number from 16 to 32000."
    if errors:
        raise ValidationError(errors)
    return {"tier": tier, "temperature": temperature, "max_tokens": max_tokens}


def _clean_content(*, messages: Any, variables: Any) -> tuple[list[dict], list[dict]]:
    try:
        variables = validate_variables(variables)
    except PromptSyntaxError as exc:
        raise ValidationError({"variables": exc.problems}) from exc
    try:
        messages = validate_messages(messages, variables)
    except PromptSyntaxError as exc:
        raise ValidationError({"messages": exc.problems}) from exc
    return messages, variables


def prompt_version_validate(
    *, messages: Any, variables: Any, tier: str, temperature: Any, max_tokens: Any
) -> dict:
    """The cleaned fields of a version, or ValidationError keyed by field (for forms and the admin)."""
    messages, variables = _clean_content(messages=messages, variables=variables)
    parameters = _clean_parameters(tier=tier, temperature=temperature, max_tokens=max_tokens)
    return {"messages": messages, "variables": variables, **parameters}


@transaction.atomic
def prompt_version_create(
    *,
    template: PromptTemplate,
    messages: list[dict],
    variables: list,
    tier: str = ModelTier.STANDARD,
    temperature: Decimal | float | str = Decimal("0.70"),
    max_tokens: int = 800,
    change_note: str = "",
    created_by: User | None = None,
    based_on: PromptVersion | None = None,
) -> PromptVersion:
    """Save the next version (1, 2, 3 ...) of a template; concurrent saves get consecutive numbers."""
    _refuse_shared_write(template)
    fields = prompt_version_validate(
        messages=messages, variables=variables, tier=tier, temperature=temperature, max_tokens=max_tokens
    )
    template = _lock(template)
    last = PromptVersion.objects.filter(template=template).aggregate(last=Max("number"))["last"] or 0
    version = PromptVersion.objects.create(
        tenant=template.tenant,
        template=template,
        number=last + 1,
        change_note=change_note.strip()[:200],
        created_by=created_by,
        based_on=based_on,
        **fields,
    )
    _record(template=template, kind=ChangeKind.VERSION_CREATED, actor=created_by, version=version,
            note=version.change_note)  # fmt: skip
    return version


@transaction.atomic
def prompt_template_create(
    *,
    purpose: str,
    name: str = "default",
    description: str = "",
    created_by: User | None = None,
    **version_fields,
) -> PromptTemplate:
    """A new template, its v1 labelled production: a tenant's own, or global under cross-tenant access."""
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": f"Unknown purpose {purpose!r}."})
    if PromptTemplate.objects.filter(tenant=current_tenant(), purpose=purpose, name=name).exists():
        raise ValidationError({"name": f"A template {purpose}/{name} already exists."})
    template = PromptTemplate.objects.create(purpose=purpose, name=name, description=description)
    version = prompt_version_create(template=template, created_by=created_by, **version_fields)
    prompt_label_move(template=template, label=PRODUCTION, version=version, actor=created_by)
    return template


def _override_of(shared: PromptTemplate, *, actor: User | None) -> PromptTemplate:
    """The tenant's own template for a global one, created on first edit with a copy of production."""
    tenant = require_tenant()
    # Lock the tenant so that two first edits at once create one override, not a clash.
    Tenant.objects.select_for_update().get(pk=tenant.pk)
    existing = PromptTemplate.objects.filter(tenant=tenant, purpose=shared.purpose, name=shared.name).first()
    if existing:
        return existing
    source = production_version_of(shared) or shared.versions.order_by("-number").first()
    override = PromptTemplate.objects.create(
        tenant=tenant, purpose=shared.purpose, name=shared.name, description=shared.description
    )
    _record(template=override, kind=ChangeKind.OVERRIDE_CREATED, actor=actor,
            note=f"Overrides Maestro's default {shared.key}.")  # fmt: skip
    if source is not None:
        copy = prompt_version_create(
            template=override,
            created_by=actor,
            based_on=source,
            change_note=f"Copy of Maestro's default v{source.number}",
            **_content_of(source),
        )
        prompt_label_move(template=override, label=PRODUCTION, version=copy, actor=actor)
    return override


def _content_of(version: PromptVersion) -> dict:
    return {
        "messages": version.messages,
        "variables": version.variables,
        "tier": version.tier,
        "temperature": version.temperature,
        "max_tokens": version.max_tokens,
    }


@transaction.atomic
def prompt_edit(
    *,
    template: PromptTemplate,
    actor: User | None,
    make_production: bool = True,
    based_on: PromptVersion | None = None,
    **version_fields,
) -> PromptVersion:
    """An editor's "save new version": on a Maestro default this writes to the tenant's override."""
    if template.is_shared and current_tenant() is not None:
        # Validate first, so that bad input never leaves an empty override behind.
        _clean_content(messages=version_fields.get("messages"), variables=version_fields.get("variables"))
        template = _override_of(template, actor=actor)
    version = prompt_version_create(template=template, created_by=actor, based_on=based_on, **version_fields)
    if make_production:
        prompt_label_move(template=template, label=PRODUCTION, version=version, actor=actor)
    return version


def production_version_of(template: PromptTemplate) -> PromptVersion | None:
    label = PromptLabel.objects.filter(template=template, name=PRODUCTION).select_related("version").first()
    return label.version if label else None


def _clean_label(label: str) -> str:
    label = (label or "").strip().lower()
    if not label or len(label) > LABEL_NAME_MAX or not all(ch.isalnum() or ch in "-_" for ch in label):
        raise ValidationError({"label": "A label is a short name of letters, digits, - and _."})
    return label


@transaction.atomic
def prompt_label_move(
    *, template: PromptTemplate, label: str, version: PromptVersion, actor: User | None, note: str = ""
) -> PromptLabel:
    """Point a label at a version, atomically; moving production back is recorded as a rollback.

    Moving production ends a running A/B experiment on the template: a rollback takes effect at once.
    """
    _refuse_shared_write(template)
    label = _clean_label(label)
    if version.template_id != template.pk:
        raise ValidationError({"version": "That version belongs to another template."})
    template = _lock(template)
    current = PromptLabel.objects.select_for_update().filter(template=template, name=label).first()
    previous = current.version if current else None
    if current is not None and previous is not None and previous.pk == version.pk:
        return current
    if current is None:
        current = PromptLabel.objects.create(
            tenant=template.tenant, template=template, name=label, version=version
        )
    else:
        current.version = version
        current.save(update_fields=["version", "updated_at"])
    rollback = label == PRODUCTION and previous is not None and version.number < previous.number
    _record(template=template, kind=ChangeKind.ROLLED_BACK if rollback else ChangeKind.LABEL_MOVED,
            actor=actor, label=label, version=version, from_version=previous, note=note[:300])  # fmt: skip
    if template.tenant_id is not None:  # Maestro's own defaults are installed by an operator, not a tenant
        audit_record(action="prompt.rolled_back" if rollback else "prompt.label_moved", target=template,
                     actor=actor, before={label: previous.number} if previous else {},
                     after={label: version.number})  # fmt: skip
    if label == PRODUCTION:
        for experiment in PromptExperiment.objects.filter(template=template, stopped_at__isnull=True):
            prompt_experiment_stop(experiment=experiment, actor=actor, note="Production moved.")
        if previous is not None:
            _forget_cached_answers(tenant_id=current.tenant_id, prompt_version_id=previous.pk)
    return current


def _forget_cached_answers(*, tenant_id: int | None, prompt_version_id: int) -> None:
    """Answers cached for the version production left can no longer be asked for: free them."""
    if tenant_id is not None:
        transaction.on_commit(
            lambda: cache_invalidate(tenant_id=tenant_id, prompt_version_id=prompt_version_id)
        )


@transaction.atomic
def prompt_experiment_start(
    *, template: PromptTemplate, version_b: PromptVersion, share_b: int, actor: User | None
) -> PromptExperiment:
    """Split the tenant's production traffic of a template: A is the production version, B gets share_b %."""
    require_tenant()
    if not isinstance(share_b, int) or not 0 <= share_b <= 100:
        raise ValidationError({"share_b": "B's share is a whole percentage from 0 to 100."})
    template = _lock(template)
    version_a = production_version_of(template)
    if version_a is None:
        raise ValidationError("This template has no production version to compare with.")
    if version_b.template_id != template.pk:
        raise ValidationError({"version_b": "Version B must be a version of the same template."})
    if version_b.pk == version_a.pk:
        raise ValidationError({"version_b": f"v{version_a.number} is already production: choose another."})
    if PromptExperiment.objects.filter(template=template, stopped_at__isnull=True).exists():
        raise ValidationError("An experiment is already running on this template: stop it first.")
    experiment = PromptExperiment.objects.create(
        template=template, version_a=version_a, version_b=version_b, share_b=share_b, started_by=actor
    )
    _record(template=template, kind=ChangeKind.EXPERIMENT_STARTED, actor=actor, version=version_b,
            from_version=version_a, note=f"{share_b}% of traffic to v{version_b.number}.")  # fmt: skip
    return experiment


@transaction.atomic
def prompt_experiment_stop(
    *, experiment: PromptExperiment, actor: User | None, note: str = ""
) -> PromptExperiment:
    experiment = PromptExperiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.stopped_at is not None:
        return experiment
    experiment.stopped_at = timezone.now()
    experiment.save(update_fields=["stopped_at"])
    # An experiment is the tenant's own even on a Maestro default: so is the history row about it.
    PromptChange.objects.create(
        tenant=experiment.tenant, template=experiment.template, kind=ChangeKind.EXPERIMENT_STOPPED,
        actor=actor, version=experiment.version_b, from_version=experiment.version_a, note=note[:300],
    )  # fmt: skip
    return experiment


VARIANTS = ("A", "B")


@transaction.atomic
def prompt_experiment_choose_winner(
    *, experiment: PromptExperiment, variant: str, actor: User | None
) -> PromptExperiment:
    """An editor's decision (never automatic): B wins and becomes production, which ends the experiment;
    A wins and the experiment stops with production unchanged. Either way it is audited."""
    if variant not in VARIANTS:
        raise ValidationError({"variant": "The winner is A or B."})
    experiment = (
        PromptExperiment.objects.select_for_update()
        .select_related("template", "version_a", "version_b")
        .get(pk=experiment.pk)
    )
    if experiment.stopped_at is not None:
        raise ValidationError("This experiment has stopped: start a new one to compare again.")
    template = experiment.template
    winner = experiment.version_b if variant == "B" else experiment.version_a
    if variant == "B":
        if template.is_shared:
            raise ValidationError(
                {"variant": f"{template.key} is one of Maestro's defaults: save v{winner.number} as your "
                 "own version first, then make it production."}
            )  # fmt: skip
        prompt_label_move(template=template, label=PRODUCTION, version=winner, actor=actor,
                          note=f"Winner of A/B experiment {experiment.pk}.")  # fmt: skip
    else:
        prompt_experiment_stop(experiment=experiment, actor=actor, note="A won: production kept.")
    audit_record(action="prompt.experiment_winner_chosen", target=template, actor=actor,
                 tenant=experiment.tenant, after={"experiment": experiment.pk, "winner": variant,
                                                 "version": winner.number})  # fmt: skip
    return PromptExperiment.objects.get(pk=experiment.pk)


def prompt_outcome_record(
    *,
    version: PromptVersion,
    approved: bool,
    edit_distance: float | None,
    cost_micros: int,
    experiment_id: int | None = None,
) -> PromptOutcome:
    """Record what became of a draft written with `version` (called when a draft is approved or rejected).

    `experiment_id` comes from `ResolvedPrompt.experiment_id`; without it the outcome is attached to
    the tenant's running experiment on the version's template, if that experiment includes the version.
    """
    require_tenant()
    if edit_distance is not None and not 0 <= edit_distance <= 1:
        raise ValidationError({"edit_distance": "Edit distance is a fraction from 0 to 1."})
    if cost_micros < 0:
        raise ValidationError({"cost_micros": "Cost cannot be negative."})
    running = PromptExperiment.objects.filter(template_id=version.template_id)
    running = running.filter(pk=experiment_id) if experiment_id else running.filter(stopped_at__isnull=True)
    experiment = running.first()
    if experiment is not None and version.pk not in (experiment.version_a_id, experiment.version_b_id):
        experiment = None
    return PromptOutcome.objects.create(
        version=version,
        experiment=experiment,
        approved=approved,
        edit_distance=edit_distance,
        cost_micros=cost_micros,
    )


def prompt_defaults_install(*, defaults: list[dict] | None = None) -> list[PromptTemplate]:
    """Install Maestro's shipped templates that are missing (idempotent); returns those it created.

    Runs outside any tenant's scope, under `cross_tenant_access` (seed_prompts, seed_demo): it writes
    shared rows. An existing global template is left as it is, edits by Maestro's staff included.
    """
    if current_tenant() is not None:
        raise PermissionDenied("Maestro's default prompts are installed outside any tenant's scope.")
    created = []
    for spec in DEFAULT_PROMPTS if defaults is None else defaults:
        spec = dict(spec)
        purpose, name = spec.pop("purpose"), spec.pop("name", "default")
        if PromptTemplate.objects.filter(tenant__isnull=True, purpose=purpose, name=name).exists():
            continue
        created.append(
            prompt_template_create(
                purpose=purpose,
                name=name,
                description=spec.pop("description", ""),
                change_note="Shipped with Maestro",
                **spec,
            )
        )
    return created
