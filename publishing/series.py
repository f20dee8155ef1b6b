"""A series plans drafts for its author's slots ahead of time.

    series_plan(series=..., days=14)   # a flow run for each free slot of the next two weeks
    series_drafts_queue()              # Celery beat: an approved planned draft goes into its slot

The series' own cron (orchestrator) keeps starting drafts on its UTC schedule; a series planned from
the calendar is usually paused there, so that each slot gets one draft.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orchestrator.flows.services import flow_start
from orchestrator.models import Series
from publishing import services
from publishing import slots as slot_math
from publishing.models import LIVE_STATUSES, ScheduledPost, SeriesSlot
from reviews.models import Draft, DraftState
from tenants.context import tenant_scope
from tenants.models import Tenant, User

logger = logging.getLogger("maestro.publishing")

MAX_PLAN_DAYS = 60
DEFAULT_PLAN_DAYS = 14
LEAD = timedelta(hours=1)  # a slot sooner than this is left alone: a draft needs time to be reviewed


def _brief(series: Series, slot_at) -> str:
    local = timezone.localtime(slot_at, slot_math.zone(services.schedule_of(author=series.author).time_zone))
    return f"{series.brief}\n\nSeries: {series.name}. For the post of {local:%A %Y-%m-%d}."


@transaction.atomic
def series_plan(*, series: Series, days: int, user: User | None) -> list[SeriesSlot]:
    """Start a draft of the series for each of its author's free slots in the next `days` days."""
    if not 1 <= days <= MAX_PLAN_DAYS:
        raise services.PublishingError({"days": f"Plan 1 to {MAX_PLAN_DAYS} days ahead."})
    author = series.author
    schedule = services.schedule_of(author=author)
    if not schedule.slots:
        raise services.PublishingError(f"{author} has no posting slots to plan for; set a schedule first.")
    now = timezone.now()
    live = ScheduledPost.objects.filter(author=author, status__in=LIVE_STATUSES, at__gte=now)
    taken = set(live.values_list("at", flat=True)) | set(
        SeriesSlot.objects.filter(author=author, at__gte=now).values_list("at", flat=True)
    )
    planned = []
    instants = slot_math.slot_instants(
        services.schedule_slots(schedule),
        slot_math.zone(schedule.time_zone),
        after=now + LEAD,
        until=now + timedelta(days=days),
    )
    for at in instants:
        if at in taken:
            continue
        run, _ = flow_start(
            author=author,
            brief=_brief(series, at),
            flow_name=series.flow_name,
            idempotency_key=f"series-{series.pk}-slot-{at:%Y%m%d%H%M}",
            series_id=series.pk,
            created_by=user or series.created_by,
        )
        planned.append(SeriesSlot.objects.create(series=series, author=author, at=at, run=run))
    return planned


def series_drafts_queue() -> int:
    """Queue each approved draft of a planned slot into that slot (the next free one if it passed)."""
    # Celery beat serves every tenant: it lists the slots waiting for their approved draft; each is
    # queued inside its own tenant's scope below.
    waiting = (
        SeriesSlot.objects.unscoped()
        .filter(post__isnull=True, run__isnull=False)
        .values_list("tenant_id", "pk", "run_id")
    )
    queued = 0
    for tenant_id, slot_id, run_id in waiting:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            continue
        with tenant_scope(tenant):
            draft = Draft.objects.filter(run_id=run_id, state=DraftState.APPROVED).first()
            if draft is None or ScheduledPost.objects.filter(draft=draft).exists():
                continue
            queued += _queue_into_slot(slot_id, draft)
    return queued


def _queue_into_slot(slot_id: int, draft: Draft) -> int:
    slot = SeriesSlot.objects.get(pk=slot_id)
    at = slot.at if slot.at > timezone.now() else None
    try:
        post = services.post_schedule(draft=draft, user=None, at=at)
    except services.PublishingError as exc:
        logger.info("series slot %s: draft %s not queued: %s", slot.pk, draft.pk, " ".join(exc.messages))
        return 0
    slot.post = post
    slot.save(update_fields=["post"])
    return 1
