"""What delivered posts earned: collected from LinkedIn, uploaded as CSV or pushed through the API;
summed per author and per prompt version; and read as a prompt A/B experiment's result.

An experiment's result is a two-proportion z-test on engagement rate (reactions, comments and reposts
per impression) between the posts of version A and of version B. It suggests a winner when the
difference is significant; an editor promotes it (prompts' own label move), never this code.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from gateway.models import Trace, TraceStatus
from prompts.models import PromptExperiment
from publishing import linkedin, router_feedback
from publishing.models import Channel, MetricSource, PostMetrics, PostStatus, ScheduledPost
from publishing.services import active_connection, connection_fresh
from tenants.models import Tenant

logger = logging.getLogger("maestro.publishing")

COUNTS = ("impressions", "reactions", "comments", "reposts")
MAX_CSV_ROWS = 10_000
SIGNIFICANCE = 0.05
MIN_IMPRESSIONS_EACH = 100  # below this a variant's rate says little, whatever the test says


class MetricsError(ValidationError):
    """Metrics that cannot be recorded; the message (and for a CSV, each row's) says why."""


def _clean_counts(counts: dict) -> dict[str, int]:
    cleaned = {}
    for name in COUNTS:
        value = counts.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**63:
            raise MetricsError({name: f"{name} is a whole number of 0 or more."})
        cleaned[name] = value
    return cleaned


def metrics_record(*, post: ScheduledPost, counts: dict, source: str) -> PostMetrics:
    """Store a delivered post's counts (replacing earlier ones)."""
    if post.status != PostStatus.DELIVERED:
        raise MetricsError(
            f"Post {post.pk} is {post.get_status_display().lower()}: only delivered posts have metrics."
        )
    cleaned = _clean_counts(counts)
    row, _ = PostMetrics.objects.update_or_create(
        post=post, defaults={**cleaned, "source": source, "collected_at": timezone.now()}
    )
    router_feedback.router_feedback_record(post=post, metrics=row)
    return row


# ---- collection from LinkedIn ---------------------------------------------------------------------


@dataclass
class PullReport:
    updated: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.updated} updated, {len(self.errors)} errors"


def _recent_linkedin_posts() -> QuerySet[ScheduledPost]:
    since = timezone.now() - timedelta(days=int(settings.MAESTRO_PUBLISHING["metrics_days"]))
    return ScheduledPost.objects.filter(
        channel=Channel.LINKEDIN, status=PostStatus.DELIVERED, delivered_at__gte=since
    ).exclude(external_id="")


def tenants_with_recent_linkedin_posts() -> list[int]:
    since = timezone.now() - timedelta(days=int(settings.MAESTRO_PUBLISHING["metrics_days"]))
    # Celery beat serves every tenant: it only lists which tenants have posts to ask about; each
    # tenant's collection runs in its own scope (publishing.tasks.collect_metrics).
    rows = ScheduledPost.objects.unscoped().filter(
        channel=Channel.LINKEDIN, status=PostStatus.DELIVERED, delivered_at__gte=since
    )
    return sorted(set(rows.values_list("tenant_id", flat=True)))


def metrics_pull(*, tenant: Tenant, author_id: int | None = None) -> PullReport:
    """Ask LinkedIn for the counts of the tenant's recent LinkedIn posts (in the tenant's scope)."""
    report = PullReport()
    posts = _recent_linkedin_posts().select_related("author")
    if author_id is not None:
        posts = posts.filter(author_id=author_id)
    for post in posts:
        try:
            connection = active_connection(author=post.author)
            if connection is None:
                raise linkedin.LinkedInError(f"{post.author}'s LinkedIn is not connected.")
            connection = connection_fresh(connection=connection)
            counts = linkedin.post_statistics(
                access_token=connection.access_token(), post_urn=post.external_id
            )
        except linkedin.LinkedInError as exc:
            report.errors.append(f"post {post.pk}: {exc.message}")
            continue
        metrics_record(post=post, counts=counts, source=MetricSource.LINKEDIN)
        report.updated += 1
    if report.errors:
        logger.info("metrics of tenant %s: %s", tenant.pk, "; ".join(report.errors[:5]))
    return report


# ---- CSV upload -------------------------------------------------------------------------------------


def _csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = {(name or "").strip().lower() for name in reader.fieldnames or []}
    if not headers & {"post_id", "external_id"} or not headers & set(COUNTS):
        raise MetricsError(
            "The CSV needs a header row with post_id or external_id, and impressions, reactions, "
            "comments and/or reposts."
        )
    rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    if len(rows) > MAX_CSV_ROWS:
        raise MetricsError(f"At most {MAX_CSV_ROWS} rows at a time.")
    return rows


def _post_of_row(row: dict[str, str]) -> ScheduledPost | None:
    if row.get("post_id"):
        if not row["post_id"].isdigit():
            return None
        return ScheduledPost.objects.filter(pk=int(row["post_id"])).first()
    return (
        ScheduledPost.objects.filter(external_id=row.get("external_id", "")).exclude(external_id="").first()
    )


def _counts_of_row(row: dict[str, str]) -> dict[str, int]:
    counts = {}
    for name in COUNTS:
        raw = row.get(name, "").replace(",", "") or "0"
        if not raw.isdigit():
            raise MetricsError(f"{name} is {raw!r}, not a whole number.")
        counts[name] = int(raw)
    return counts


@transaction.atomic
def metrics_import_csv(*, text: str) -> int:
    """Record every row of a CSV export (LinkedIn's or a CRM's), or none: the error lists each bad row."""
    rows, parsed, errors = _csv_rows(text), [], []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        post = _post_of_row(row)
        if post is None:
            errors.append(f"Row {number}: no post {row.get('post_id') or row.get('external_id')!r} here.")
            continue
        try:
            parsed.append((post, _counts_of_row(row)))
        except MetricsError as exc:
            errors.append(f"Row {number}: {' '.join(exc.messages)}")
    if not rows:
        raise MetricsError("The CSV has no rows.")
    if errors:
        raise MetricsError(errors[:20] + ([f"… and {len(errors) - 20} more."] if len(errors) > 20 else []))
    for found, counts in parsed:
        try:
            metrics_record(post=found, counts=counts, source=MetricSource.CSV)
        except MetricsError as exc:
            raise MetricsError(f"Post {found.pk}: {' '.join(exc.messages)}") from exc
    return len(parsed)


# ---- reading the results ----------------------------------------------------------------------------


def _totals(queryset: QuerySet[PostMetrics]) -> dict[str, int]:
    sums = queryset.aggregate(posts=Count("id"), **{name: Sum(name) for name in COUNTS})
    return {name: int(sums[name] or 0) for name in ("posts", *COUNTS)}


def _rate(totals: dict[str, int]) -> float | None:
    if not totals["impressions"]:
        return None
    return (totals["reactions"] + totals["comments"] + totals["reposts"]) / totals["impressions"]


def author_results(*, author_id: int) -> dict:
    """Totals and engagement rate of an author's delivered posts, and the posts by engagement."""
    rows = PostMetrics.objects.filter(post__author_id=author_id)
    totals = _totals(rows)
    posts = rows.select_related("post__draft").order_by("-reactions", "-comments")[:20]
    return {"totals": totals, "rate": _rate(totals), "posts": list(posts)}


def _metrics_of(author_id: int | None) -> QuerySet[PostMetrics]:
    rows = PostMetrics.objects.all()
    return rows if author_id is None else rows.filter(post__author_id=author_id)


def results_by_prompt_version(*, author_id: int | None = None) -> list[dict]:
    """Per prompt version that wrote delivered posts (of one author, if given): totals and engagement rate."""
    rows = (
        _metrics_of(author_id)
        .exclude(post__draft__prompt_version_id=None)
        .values("post__draft__prompt_version_id")
        .annotate(posts=Count("id"), **{name: Sum(name) for name in COUNTS})
        .order_by("post__draft__prompt_version_id")
    )
    results = []
    for row in rows:
        totals = {name: int(row[name] or 0) for name in ("posts", *COUNTS)}
        results.append(
            {"prompt_version_id": row["post__draft__prompt_version_id"], **totals, "rate": _rate(totals)}
        )
    return results


def results_by_model(*, author_id: int | None = None) -> list[dict]:
    """Per model that wrote delivered posts (of one author, if given; the model of the run's successful
    `post` call, the last one when a revision wrote again): totals and engagement rate, best first."""
    rows = (
        _metrics_of(author_id).exclude(post__draft__run_id=None).values_list("post__draft__run_id", *COUNTS)
    )
    by_run = {run_id: counts for run_id, *counts in rows}
    traces = Trace.objects.filter(
        flow_run_id__in=list(by_run), purpose="post", status=TraceStatus.OK
    ).order_by("created_at")
    model_of_run = dict(traces.values_list("flow_run_id", "model_alias"))  # later calls win
    totals: dict[str, dict[str, int]] = {}
    for run_id, counts in by_run.items():
        model = model_of_run.get(run_id) or "unknown"
        entry = totals.setdefault(model, dict.fromkeys(("posts", *COUNTS), 0))
        entry["posts"] += 1
        for name, value in zip(COUNTS, counts, strict=True):
            entry[name] += int(value)
    results = [{"model": model, **entry, "rate": _rate(entry)} for model, entry in totals.items()]
    return sorted(results, key=lambda row: (row["rate"] is None, -(row["rate"] or 0)))


@dataclass(frozen=True)
class ExperimentResult:
    a: dict[str, int]
    b: dict[str, int]
    rate_a: float | None
    rate_b: float | None
    z: float | None
    p_value: float | None
    suggested_winner: str | None  # "A", "B", or None: not enough evidence
    reason: str


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float]:
    """z and the two-sided p-value for "B's rate differs from A's" (pooled standard error)."""
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if error == 0:
        return 0.0, 1.0
    z = (successes_b / trials_b - successes_a / trials_a) / error
    return z, math.erfc(abs(z) / math.sqrt(2))


def experiment_results(*, experiment: PromptExperiment) -> ExperimentResult:
    rows = PostMetrics.objects.filter(post__draft__experiment_id=experiment.pk)
    a, b = _totals(rows.filter(post__draft__variant="A")), _totals(rows.filter(post__draft__variant="B"))
    rate_a, rate_b = _rate(a), _rate(b)
    if min(a["impressions"], b["impressions"]) < MIN_IMPRESSIONS_EACH:
        reason = f"Each version needs {MIN_IMPRESSIONS_EACH} impressions on delivered posts first."
        return ExperimentResult(a, b, rate_a, rate_b, None, None, None, reason)
    engaged_a, engaged_b = (t["reactions"] + t["comments"] + t["reposts"] for t in (a, b))
    # One impression engages at most once in this model: counts beyond impressions are capped.
    z, p_value = two_proportion_z_test(
        min(engaged_a, a["impressions"]), a["impressions"], min(engaged_b, b["impressions"]), b["impressions"]
    )
    if p_value >= SIGNIFICANCE:
        reason = f"No significant difference yet (p = {p_value:.3f}; {SIGNIFICANCE} needed)."
        return ExperimentResult(a, b, rate_a, rate_b, z, p_value, None, reason)
    winner = "B" if z > 0 else "A"
    reason = f"Version {winner} engages more (p = {p_value:.4f}). An editor decides whether to promote it."
    return ExperimentResult(a, b, rate_a, rate_b, z, p_value, winner, reason)
