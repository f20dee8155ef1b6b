"""Train the shared router prior from public labels (the cold start) and make it the active one.

    python manage.py router_train --mmlu ../shared/data/routellm/mmlu [--no-activate] [--cache-dir DIR]

Embeds every prompt with the configured embedder (minutes for MMLU's 14,042 on two cores; pass
--cache-dir to keep the vectors), computes the out-of-fold calibration curve grouped by subject,
fits the two heads on all prompts and stores a versioned artefact (tenant NULL, pool "public").
`--exclude-subjects` keeps subjects out entirely, e.g. to evaluate the result on them afterwards.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateway.router_model.prior import train_public_prior
from gateway.router_model.public_labels import load_mmlu
from tenants.context import cross_tenant_access


class Command(BaseCommand):
    help = "Train the shared router prior on public labels (RouteLLM's MMLU labels) and activate it."

    def add_arguments(self, parser):
        parser.add_argument("--mmlu", required=True, type=Path, help="Directory of mmlu_<subject>.csv files.")
        parser.add_argument("--no-activate", action="store_true", help="Store it as a candidate only.")
        parser.add_argument("--cache-dir", type=Path, help="Keep the prompts' embeddings here between runs.")
        parser.add_argument("--exclude-subjects", default="", help="Comma-separated subjects to leave out.")

    def handle(self, *args, **options):
        try:
            items = load_mmlu(options["mmlu"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        excluded = {s.strip() for s in options["exclude_subjects"].split(",") if s.strip()}
        unknown = excluded - {i.subject for i in items}
        if unknown:
            raise CommandError(f"Unknown subjects: {', '.join(sorted(unknown))}.")
        items = [i for i in items if i.subject not in excluded]
        self.stdout.write(
            f"{len(items)} labelled prompts from {len({i.subject for i in items})} subjects; embedding..."
        )
        with cross_tenant_access("router_train: the shared prior belongs to no tenant"):
            artefact = train_public_prior(
                items, cache_dir=options.get("cache_dir"), activate=not options["no_activate"]
            )
        evaluation = artefact.evaluation
        self.stdout.write(
            f"out-of-fold (by subject): APGR {evaluation['apgr']:.4f}, "
            f"random {evaluation['random_apgr']:.4f}, "
            f"quality at 50% strong {evaluation['quality_at_50']:.4f}"
        )
        self.stdout.write(self.style.SUCCESS(f"Stored router {artefact.version} ({artefact.status})."))
