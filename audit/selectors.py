"""Reads of the audit log: the tenant in scope's events, filtered, and as CSV or JSON rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from tenants.context import require_tenant

EXPORT_FIELDS = (
    "id",
    "at",
    "action",
    "actor_label",
    "actor_user_id",
    "actor_api_key_id",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "ip",
)


def _bound(value: date | datetime, *, end: bool) -> datetime:
    """A datetime as given (made aware); a date as the start of that day, or of the next for an end."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    start = timezone.make_aware(datetime.combine(value, time.min))
    return start + timedelta(days=1) if end else start


def audit_events(
    *,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Newest first. `actor` matches the actor's label (an email or a key's name) in part; `action`
    is a whole action or a prefix ending in a dot ("member."); a date `until` includes that day, a
    datetime `until` is exclusive."""
    require_tenant()
    events = AuditEvent.objects.all()
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action:
        lookup = "action__startswith" if action.endswith(".") else "action"
        events = events.filter(**{lookup: action})
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since is not None:
        events = events.filter(at__gte=_bound(since, end=False))
    if until is not None:
        events = events.filter(at__lt=_bound(until, end=True))
    return events.order_by("-at", "-id")


def audit_actions() -> list[str]:
    """The actions recorded in this tenant, for filter choices."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_target_types() -> list[str]:
    return list(AuditEvent.objects.order_by("target_type").values_list("target_type", flat=True).distinct())


def event_row(event: AuditEvent) -> dict:
    return {name: getattr(event, name) for name in EXPORT_FIELDS}


def audit_csv(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """CSV lines, a header first; before/after as JSON in their cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for event in events.iterator(chunk_size=500):
        row = event_row(event)
        row["at"] = event.at.isoformat()
        row["before"], row["after"] = json.dumps(event.before), json.dumps(event.after)
        writer.writerow(["" if row[name] is None else row[name] for name in EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def audit_json(events: QuerySet[AuditEvent]) -> str:
    return json.dumps(
        [event_row(event) for event in events.iterator(chunk_size=500)], cls=DjangoJSONEncoder, indent=1
    )
