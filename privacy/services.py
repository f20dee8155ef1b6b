"""Retention, erasure and export: the writes of the privacy app. Keyword arguments only.

    retention_apply(tenant=...)                # the tenant's policy, applied now; a RetentionReport
    author_erase(author_id=..., actor=...)     # the author and every row derived from them
    tenant_erase(tenant_id=..., actor=...)     # the whole tenant, once it has been exported
    export_build(actor=..., author_id=None)    # a ZIP of JSON files, audited

Every erasure and export is recorded in the audit log; erasures also leave an ErasureReport (which
names no one) of the rows removed per table. An erasure first revokes the LinkedIn tokens concerned at
LinkedIn (publishing/revocation.py); a token LinkedIn could not revoke does not stop the erasure, and
the report's `notes` say so.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify
from django_celery_beat.models import PeriodicTask

from audit.selectors import audit_events
from audit.services import editable_fields, record, stored_values, values_of
from authors.models import Author
from gateway.models import SemanticCacheEntry, Trace
from orchestrator.models import FINISHED_STATUSES, FlowRun, RunStatus, Series
from privacy.export import export_write
from privacy.footprint import author_footprint
from privacy.models import ErasureKind, ErasureReport, RetentionPolicy, RetentionReport
from publishing.revocation import linkedin_tokens_revoke
from reviews.models import Draft, DraftState
from tenants.context import require_tenant, tenant_scope
from tenants.models import Membership, Tenant, User

logger = logging.getLogger("maestro.privacy")

OPEN_DRAFT_STATES = (
    DraftState.GENERATING,
    DraftState.READY,
    DraftState.IN_REVIEW,
    DraftState.CHANGES_REQUESTED,
)
EXPORT_BEFORE_ERASURE = timedelta(days=7)
SPOOL_BYTES = 32 * 1024 * 1024  # an export larger than this is spooled to a temporary file on disk


# ---- retention ------------------------------------------------------------------------------------


def retention_policy_of() -> RetentionPolicy:
    """The policy of the tenant in scope (an unsaved one that keeps everything when none is set)."""
    require_tenant()
    return RetentionPolicy.objects.first() or RetentionPolicy()


def retention_policy_save(*, policy: RetentionPolicy, actor: User | None) -> RetentionPolicy:
    before = stored_values(policy, editable_fields(policy))
    policy.full_clean(exclude=["tenant"])
    policy.save()
    record(action="retention.policy_changed", target=policy, actor=actor, before=before,
           after=values_of(policy, editable_fields(policy)))  # fmt: skip
    return policy


def _deleted(counts: dict[str, int], into: Counter) -> None:
    for label, count in counts.items():
        if count:
            into[label.lower()] += count


def _older(field: str, days: int | None, now: datetime) -> Q:
    """Rows whose `field` is more than `days` days old; none when `days` is empty (kept)."""
    return Q(**{f"{field}__lt": now - timedelta(days=days)}) if days else Q(pk__in=[])


def _retention_targets(policy: RetentionPolicy, now: datetime) -> dict[str, QuerySet]:
    """Rule -> the rows it takes now: trace bodies to blank, the rest to delete."""
    traces = Trace.objects.filter(_older("created_at", policy.trace_body_days, now))
    cache = Q(expires_at__lte=now) | _older("created_at", policy.cache_entry_days, now)
    drafts = Draft.objects.filter(
        _older("decided_at", policy.rejected_draft_days, now), state=DraftState.REJECTED
    )
    runs = FlowRun.objects.filter(
        _older("finished_at", policy.finished_run_days, now), status__in=FINISHED_STATUSES
    )
    return {
        "trace_bodies": traces.exclude(Q(prompt=[]) & Q(response="")),
        "cache_entries": SemanticCacheEntry.objects.filter(cache),
        "rejected_drafts": drafts,
        "finished_runs": runs.exclude(draft__state__in=OPEN_DRAFT_STATES),  # a draft in review keeps its run
    }


def retention_preview(*, now: datetime | None = None) -> dict[str, int]:
    """What the policy of the tenant in scope would take if it ran now (nothing is changed)."""
    targets = _retention_targets(retention_policy_of(), now or timezone.now())
    return {rule: rows.count() for rule, rows in targets.items()}


@transaction.atomic
def retention_apply(*, tenant: Tenant, manual: bool = False, now: datetime | None = None) -> RetentionReport:
    """Apply the tenant's policy: blank old trace bodies (metrics stay), drop expired or old cache
    entries, rejected drafts and finished runs past their days. Reports every count, zeros included."""
    with tenant_scope(tenant):
        policy = retention_policy_of()
        targets = _retention_targets(policy, now or timezone.now())
        removed = {"trace_bodies": targets.pop("trace_bodies").update(prompt=[], response="")}
        details: Counter = Counter()
        for rule, rows in targets.items():
            _, counts = rows.delete()
            _deleted(counts, details)
            removed[rule] = counts.get(rows.model._meta.label, 0)
        report = RetentionReport.objects.create(
            policy=values_of(policy, editable_fields(policy)),
            removed=removed,
            details=dict(details),
            manual=manual,
        )
        if manual:
            record(action="retention.applied", target=report, after=removed)
    return report


# ---- erasure --------------------------------------------------------------------------------------


def _actor_fields(actor: User | None) -> dict[str, Any]:
    return {"actor_user_id": actor.pk, "actor_label": actor.email} if actor is not None else {}


@transaction.atomic
def author_erase(*, author_id: int, actor: User | None) -> ErasureReport:
    """Delete the author of the tenant in scope and every row derived from them (privacy/footprint.py),
    children first; returns the report of rows removed per table."""
    author = Author.objects.select_for_update().get(pk=author_id)  # another tenant's: DoesNotExist
    in_flight = FlowRun.objects.filter(
        author=author, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
    ).count()
    if in_flight:  # its worker would write the author's text and traces again after the erasure
        raise ValidationError(
            f"{in_flight} flow run(s) of this author are still in progress: erase once they have finished."
        )
    # Revoked at LinkedIn before the rows go; a failure does not stop the erasure (it is retried).
    revocation = linkedin_tokens_revoke(author=author, user=actor, reason="author erased")
    parts = author_footprint()
    found = [(part.model, list(part.rows(author).values_list("pk", flat=True))) for part in parts]
    removed: Counter = Counter()
    series_tasks = Series.objects.filter(author=author, periodic_task__isnull=False).values("periodic_task")
    _deleted(PeriodicTask.objects.filter(pk__in=series_tasks).delete()[1], removed)
    for model, pks in reversed(found):
        if pks:
            _deleted(model._base_manager.filter(pk__in=pks).delete()[1], removed)
    label = f"author #{author_id}"
    report = ErasureReport.objects.create(
        kind=ErasureKind.AUTHOR, subject_id=author_id, subject_label=label, removed=dict(removed),
        **_actor_fields(actor),
    )  # fmt: skip
    record(action="author.erased", target_type="authors.author", target_id=author_id, target_label=label,
           actor=actor, after={"rows_removed": report.total, "report": report.pk,
                               "linkedin_tokens": revocation.as_json()})  # fmt: skip
    report.notes = [revocation.message] if revocation.message else []
    return report


def _recent_tenant_export(tenant: Tenant) -> bool:
    with tenant_scope(tenant):
        return audit_events(action="export.tenant", since=timezone.now() - EXPORT_BEFORE_ERASURE).exists()


def _only_here(tenant: Tenant) -> list[int]:
    """People whose only tenant this is (staff excepted), and the service users of its API keys."""
    members = Membership.objects.unscoped().filter(tenant=tenant).values_list("user_id", flat=True)
    elsewhere = Membership.objects.unscoped().exclude(tenant=tenant).values_list("user_id", flat=True)
    people = User.objects.filter(pk__in=members, is_staff=False, is_superuser=False).exclude(pk__in=elsewhere)
    identities = User.objects.filter(api_key__tenant_id=tenant.pk).values_list("pk", flat=True)
    return [*people.values_list("pk", flat=True), *identities]


def _protecting_models() -> list[type[models.Model]]:
    """Tenant-owned models with a PROTECT foreign key (a run protects its flow definition, a label its
    prompt version): Django refuses a cascade that would delete a protected row."""
    found = []
    for model in apps.get_models():
        fields = model._meta.concrete_fields
        owned = any(f.name == "tenant" and f.related_model is Tenant for f in fields)
        protecting = any(
            isinstance(f, models.ForeignKey) and f.remote_field.on_delete is models.PROTECT for f in fields
        )
        if owned and protecting:
            found.append(model)
    return found


def tenant_erase(*, tenant_id: int, actor: User | None) -> ErasureReport:
    """Delete the tenant and everything it owns, its members' accounts that belong to no other tenant
    and its keys' service users. Refused unless the tenant was exported in the last 7 days.

    The audit log refuses deletes (audit/migrations/0001_initial.py) unless the transaction names the
    tenant being erased in `maestro.audit_erasure`; it is set with SET LOCAL, so it ends with the
    transaction. The report outlives the tenant with `tenant` empty."""
    tenant = Tenant.objects.get(pk=tenant_id)
    if not _recent_tenant_export(tenant):
        raise ValidationError("Export the tenant's data first: erasure follows an export of the last 7 days.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('maestro.audit_erasure', %s, true)", [str(tenant.pk)])
        report = ErasureReport.objects.create(
            tenant=tenant, kind=ErasureKind.TENANT, subject_id=tenant.pk,
            subject_label=f"{tenant.name} ({tenant.slug})", **_actor_fields(actor),
        )  # fmt: skip
        with tenant_scope(tenant):  # revoked at LinkedIn before the rows go; failures are retried
            revocation = linkedin_tokens_revoke(author=None, user=actor, reason="tenant erased")
        users = _only_here(tenant)
        removed: Counter = Counter()
        tasks = Series.objects.unscoped().filter(tenant=tenant, periodic_task__isnull=False)
        _deleted(PeriodicTask.objects.filter(pk__in=tasks.values("periodic_task")).delete()[1], removed)
        for model in _protecting_models():  # rows that would block the cascade go first
            # The tenant being erased, by id: its scope is what is being removed.
            _deleted(model._base_manager.filter(tenant_id=tenant.pk).delete()[1], removed)
        _deleted(tenant.delete()[1], removed)
        _deleted(User.objects.filter(pk__in=users).delete()[1], removed)
        ErasureReport.objects.unscoped().filter(pk=report.pk).update(removed=dict(removed))
    logger.warning("tenant %s (%s) erased by %s: %s rows", tenant_id, report.subject_label,
                   actor or "Maestro", sum(removed.values()))  # fmt: skip
    report.refresh_from_db()
    report.notes = [revocation.message] if revocation.message else []
    return report


# ---- export ---------------------------------------------------------------------------------------


@dataclass
class Export:
    file: IO[bytes]  # positioned at the start, ready to be sent
    filename: str
    manifest: dict[str, Any]


def export_build(*, actor: User | None, author_id: int | None = None) -> Export:
    """The ZIP of the tenant in scope, or of one of its authors; the export is audited."""
    tenant = require_tenant()
    author = Author.objects.get(pk=author_id) if author_id is not None else None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  (handed to the response)
    manifest = export_write(fileobj=spool, author=author)
    spool.seek(0)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    subject = f"author-{author.pk}" if author is not None else "tenant"
    action = "export.author" if author is not None else "export.tenant"
    record(action=action, target=author or tenant, target_label=subject if author else tenant.name,
           actor=actor, after={"files": manifest["files"]})  # fmt: skip
    return Export(
        file=spool, filename=f"maestro-{slugify(tenant.slug)}-{subject}-{stamp}.zip", manifest=manifest
    )
