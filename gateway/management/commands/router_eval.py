"""Evaluate the learned router on your own labels, through the gateway's own decision path.

    python manage.py router_eval --data FILE.jsonl [--json] [--tenant SLUG] [--artefact VERSION]

One JSON object per line: {"prompt": "...", "weak": 0|1|score, "strong": 0|1|score}, optionally
"turns": [...] (routed on the first user turn) and "purpose". Each request is scored by
`router_model.decision.score_request` — the function the gateway calls — and the sweep compares
scores with thresholds by `decision.needs_strong`, the gateway's comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateway.models import RouterArtefact, RouterSetting
from gateway.router_model.corpus import embed_texts
from gateway.router_model.decision import RouterUnavailableError, needs_strong, score_request
from gateway.router_model.dial import threshold_for
from gateway.router_model.evaluation import random_apgr, routing_curve, sweep_table
from gateway.router_model.features import messages_for_labels, router_text
from gateway.router_model.store import (
    DEFAULT_SETTING,
    LoadedRouter,
    active_artefact_row,
    loaded_router,
    router_config,
    tenant_setting,
)
from tenants.context import cross_tenant_access
from tenants.models import Tenant


def read_labels(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            weak, strong = float(record["weak"]), float(record["strong"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"{path}:{number}: not a label line ({exc}).") from exc
        if not (record.get("prompt") or record.get("turns")):
            raise CommandError(f"{path}:{number}: needs a prompt or turns.")
        records.append({**record, "weak": weak, "strong": strong})
    if not records:
        raise CommandError(f"{path} has no labels.")
    return records


class Command(BaseCommand):
    help = "Strong share, quality, PGR and APGR of the learned router on a JSONL file of labels."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data", required=True, type=Path, help="JSONL: prompt, weak, strong[, turns, purpose]"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of tables.")
        parser.add_argument("--tenant", help="Evaluate the router that routes this tenant (slug).")
        parser.add_argument("--artefact", help="Evaluate this artefact version (any status).")
        parser.add_argument(
            "--purpose", default="chat", help="Purpose of lines that name none (default chat)."
        )
        parser.add_argument("--cache-dir", help="Keep embeddings here between runs.")
        parser.add_argument("--scores", action="store_true", help="With --json: each line's score, in order.")

    def handle(self, *args, **options):
        records = read_labels(options["data"])
        loaded, threshold = self._router(options.get("tenant"), options.get("artefact"))
        messages = [messages_for_labels(r.get("prompt", ""), r.get("turns")) for r in records]
        embeddings = embed_texts([router_text(m) for m in messages], cache_dir=options.get("cache_dir"))
        try:
            verdicts = [
                score_request(
                    loaded.model,
                    messages=m,
                    purpose=str(r.get("purpose") or options["purpose"]),
                    threshold=threshold,
                    embedding=e.tolist(),
                )
                for r, m, e in zip(records, messages, embeddings, strict=True)
            ]
        except RouterUnavailableError as exc:
            raise CommandError(str(exc)) from exc
        scores = [v.score for v in verdicts]
        weak = [r["weak"] for r in records]
        strong = [r["strong"] for r in records]
        report = self._report(loaded.version, threshold, scores, weak, strong)
        if options["scores"]:
            report["scores"] = [round(score, 6) for score in scores]
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print(report)

    def _router(self, slug: str | None, version: str | None) -> tuple[LoadedRouter, float]:
        """The artefact to evaluate and the threshold the gateway would compare its scores with."""
        tenant = Tenant.objects.filter(slug=slug).first() if slug else None
        if slug and tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        tenant_id = tenant.pk if tenant else None
        with cross_tenant_access("router_eval: an operator evaluates a router artefact"):
            setting = tenant_setting(tenant_id) if tenant_id else RouterSetting(**DEFAULT_SETTING)
            if version:
                row = (
                    RouterArtefact.objects.filter(version=version)
                    .values("id", "version", "tenant_id")
                    .first()
                )
                if row is None or row["tenant_id"] not in (None, tenant_id):
                    raise CommandError(f"No artefact {version!r} shared or of the tenant given.")
            else:
                row = active_artefact_row(tenant_id, share_labels=setting.share_labels)
                if row is None:
                    raise CommandError("No active router artefact: run `manage.py router_train` first.")
            loaded = loaded_router(row["id"], row["version"])
            config = router_config(tenant_id) if tenant_id else None
        if config is not None and config.version == loaded.version:
            return loaded, config.threshold
        return loaded, float(threshold_for(setting, loaded)["threshold"])

    @staticmethod
    def _report(version: str, threshold: float, scores, weak, strong) -> dict:
        curve = routing_curve(scores, weak, strong)
        chosen = [needs_strong(s, threshold) for s in scores]
        at_threshold = sum(strong[i] if c else weak[i] for i, c in enumerate(chosen)) / len(scores)
        quality_at_50 = curve.quality_at(0.5)
        return {
            "n": curve.n,
            "version": version,
            "weak_quality": round(curve.weak_quality, 6),
            "strong_quality": round(curve.strong_quality, 6),
            "apgr": None if curve.apgr is None else round(curve.apgr, 6),
            "random_apgr": round(random_apgr(weak, strong), 6),
            "quality_at_50": round(quality_at_50, 6),
            "quality_at_50_of_strong": round(quality_at_50 / curve.strong_quality, 6)
            if curve.strong_quality
            else None,
            "threshold": round(threshold, 6),
            "at_threshold": {
                "strong_share": round(sum(chosen) / len(chosen), 6),
                "quality": round(at_threshold, 6),
            },
            "curve": [p.as_dict() for p in sweep_table(scores, weak, strong)],
        }

    def _print(self, report: dict) -> None:
        write = self.stdout.write
        write(f"router {report['version']} on {report['n']} labelled requests")
        write(f"weak only {report['weak_quality']:.4f}   strong only {report['strong_quality']:.4f}")
        write("")
        write(f"{'threshold':>10} {'strong share':>13} {'quality':>9} {'PGR':>8}")
        for row in report["curve"]:
            pgr = "-" if row["pgr"] is None else f"{row['pgr']:.3f}"
            write(f"{row['threshold']:>10.4f} {row['strong_share']:>12.1%} {row['quality']:>9.4f} {pgr:>8}")
        write("")
        apgr = "-" if report["apgr"] is None else f"{report['apgr']:.4f}"
        write(f"APGR {apgr}   random routing {report['random_apgr']:.4f}")
        share_of_strong = report["quality_at_50_of_strong"]
        relative = f" ({share_of_strong:.1%} of strong-only)" if share_of_strong is not None else ""
        write(f"quality at 50% strong share {report['quality_at_50']:.4f}{relative}")
        at = report["at_threshold"]
        write(
            f"at the configured threshold {report['threshold']:.4f}: strong share {at['strong_share']:.1%}, "
            f"quality {at['quality']:.4f}"
        )
