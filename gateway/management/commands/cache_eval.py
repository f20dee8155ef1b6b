"""Evaluate the semantic cache's decision on labelled pairs, through the lookup the gateway runs.

    python manage.py cache_eval --pairs FILE.jsonl [--tenant SLUG] [--threshold 0.78] [--json]

One JSON object per line: {"a": "...", "b": "...", "same_answer": true|false, "category": "..."}.
Each `a` is stored and each `b` looked up (`gateway.cache.store`, the functions the gateway calls),
in a scope of its own, at the tenant's threshold (or --threshold) and over a curve of thresholds.
Without --tenant a throwaway tenant is made and deleted; with one, its policy applies and the entries
stored are deleted at the end.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateway.cache.evaluation import PairsError, evaluate, format_report, read_pairs
from gateway.cache.store import forget_cache_policy
from tenants.models import Tenant
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Hits and false hits of the semantic cache per category, and over thresholds, on labelled pairs."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", required=True, type=Path, help="JSONL: a, b, same_answer, category")
        parser.add_argument("--tenant", help="Use this tenant's policy (slug); default: a throwaway tenant.")
        parser.add_argument("--threshold", type=float, help="Override the tenant's cache threshold.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of tables.")

    def handle(self, *args, **options):
        threshold = options.get("threshold")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise CommandError("--threshold must be between 0 and 1.")
        try:
            pairs = read_pairs(options["pairs"])
            result = self._evaluate(options.get("tenant"), pairs, threshold)
        except PairsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result) if options["json"] else format_report(result))

    def _evaluate(self, slug: str | None, pairs, threshold: float | None) -> dict:
        if slug:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {slug!r}.")
            forget_cache_policy(tenant.pk)
            return evaluate(tenant_id=tenant.pk, pairs=pairs, threshold=threshold)
        throwaway = tenant_create(name="cache_eval", slug=f"cache-eval-{uuid.uuid4().hex[:12]}")
        try:
            return evaluate(tenant_id=throwaway.pk, pairs=pairs, threshold=threshold)
        finally:
            forget_cache_policy(throwaway.pk)
            throwaway.delete()
