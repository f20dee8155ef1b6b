"""Every row derived from one author, found by walking Django's app registry.

A model belongs to an author's footprint when it
- has a foreign key to `authors.Author` (style profiles, memories, drafts, runs, series, budgets,
  posting schedules, scheduled posts, LinkedIn connections ...), or
- has an `author_id` column without a foreign key (the gateway's traces and cache entries), or
- cannot exist without a row of the footprint: a foreign key with CASCADE, PROTECT or RESTRICT to one
  (step runs of a run, transitions of a draft, deliveries and metrics of a post, alerts of a budget).

Some rows name the author's rows by plain id, which no registry shows: `EXTRA_LINKS` lists them
(traces of the author's runs, router labels of the author's drafts, webhook deliveries about the
author). Erasure deletes the footprint, export writes it; privacy/tests/test_erasure.py fails when a
model that references authors is added and not covered here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q

from authors.models import Author
from gateway.models import RouterLabel, Trace
from orchestrator.models import FlowRun
from reviews.models import Draft
from webhooks.models import WebhookDelivery

CONTAINED = (models.CASCADE, models.PROTECT, models.RESTRICT)

Rows = Callable[[Author], models.QuerySet]


@dataclass(frozen=True)
class Part:
    """One model's rows of the footprint: `rows(author)` is a queryset of the tenant in scope."""

    model: type[models.Model]
    rows: Rows

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def author_fk_names(model: type[models.Model]) -> list[str]:
    return [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and field.related_model is Author
    ]


def has_plain_author_id(model: type[models.Model]) -> bool:
    try:
        field = model._meta.get_field("author_id")
    except FieldDoesNotExist:
        return False
    return not field.is_relation


def references_author(model: type[models.Model]) -> bool:
    """A foreign key to Author, or an `author_id` column without one."""
    return bool(author_fk_names(model)) or has_plain_author_id(model)


def _direct_rows(model: type[models.Model]) -> Rows:
    fk_names, plain = author_fk_names(model), has_plain_author_id(model)

    def rows(author: Author) -> models.QuerySet:
        match = Q(author_id=author.pk) if plain else Q(pk__in=[])
        for name in fk_names:
            match |= Q(**{name: author})
        return model._default_manager.filter(match)  # tenant-owned: scoped to the tenant in scope

    return rows


def _contained_rows(field: models.ForeignKey, parent: Part) -> Rows:
    model = field.model

    def rows(author: Author) -> models.QuerySet:
        return model._default_manager.filter(**{f"{field.name}__in": parent.rows(author).values("pk")})

    return rows


def _contained_in(model: type[models.Model], parts: dict) -> Part | None:
    for field in model._meta.concrete_fields:
        if not isinstance(field, models.ForeignKey):
            continue
        parent = parts.get(field.related_model)
        if parent is not None and field.remote_field.on_delete in CONTAINED:
            return Part(model, _contained_rows(field, parent))
    return None


def _walk() -> dict[type[models.Model], Part]:
    parts: dict[type[models.Model], Part] = {Author: Part(Author, lambda a: Author.objects.filter(pk=a.pk))}
    for model in apps.get_models():
        if model is not Author and references_author(model):
            parts[model] = Part(model, _direct_rows(model))
    grown = True
    while grown:  # rows that cannot outlive a row of the footprint, to any depth
        grown = False
        for model in apps.get_models():
            part = None if model in parts else _contained_in(model, parts)
            if part is not None:
                parts[model], grown = part, True
    return parts


def _trace_rows(author: Author) -> models.QuerySet:
    runs = list(FlowRun.objects.filter(author=author).values_list("pk", flat=True))
    return Trace.objects.filter(Q(author_id=author.pk) | Q(flow_run_id__in=runs))


def _router_label_rows(author: Author) -> models.QuerySet:
    drafts = list(Draft.objects.filter(author=author).values_list("pk", flat=True))
    return RouterLabel.objects.filter(draft_id__in=drafts)


def _webhook_delivery_rows(author: Author) -> models.QuerySet:
    return WebhookDelivery.objects.filter(payload__data__author_id=author.pk)


# Rows that name the author's rows by plain id (added to what the walk finds for the same model).
EXTRA_LINKS: dict[type[models.Model], Rows] = {
    Trace: _trace_rows,
    RouterLabel: _router_label_rows,
    WebhookDelivery: _webhook_delivery_rows,
}


def _either(first: Rows, second: Rows) -> Rows:
    return lambda author: first(author) | second(author)


def author_footprint() -> list[Part]:
    """Every part, parents before the rows contained in them (the order export writes them in)."""
    parts = _walk()
    for model, rows in EXTRA_LINKS.items():
        known = parts.get(model)
        parts[model] = Part(model, _either(known.rows, rows) if known else rows)
    return list(parts.values())
