"""Recurring series: each one owns a django-celery-beat periodic task that starts its flow."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from orchestrator import queueing
from orchestrator.flows.services import flow_start
from orchestrator.models import FlowRun, Series
from reviews.models import Draft, DraftState


def parse_cron(cron: str) -> dict[str, str]:
    parts = cron.split()
    if len(parts) != 5:
        raise ValidationError({"cron": "Use five fields: minute hour day-of-month month day-of-week."})
    keys = ["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]
    return dict(zip(keys, parts, strict=True))


@transaction.atomic
def series_save(*, series: Series) -> Series:
    """Save the series and keep its beat schedule in step (created, changed, paused)."""
    fields = parse_cron(series.cron)
    try:
        schedule, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **fields)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"cron": f"Not a valid schedule: {exc}"}) from exc
    series.save()
    task = series.periodic_task or PeriodicTask(name=f"series-{series.tenant_id}-{series.pk}")
    task.task = queueing.RUN_SERIES
    task.crontab = schedule
    task.args = json.dumps([series.tenant_id, series.pk])
    task.enabled = series.is_active
    task.save()
    if series.periodic_task_id != task.pk:
        series.periodic_task = task
        series.save(update_fields=["periodic_task"])
    return series


def series_run_now(series: Series) -> FlowRun:
    recent = Draft.objects.filter(run__series=series, state__in=[DraftState.APPROVED, DraftState.DELIVERED])
    recent_lines = [d.body.split("\n", 1)[0][:160] for d in recent.order_by("-created_at")[:5]]
    brief = f"{series.brief}\n\nSeries: {series.name}. Date: {timezone.now():%Y-%m-%d}."
    if recent_lines:
        brief += "\nEarlier posts of this series began with (do not repeat them):\n" + "\n".join(
            f"- {line}" for line in recent_lines
        )
    key = f"series-{series.pk}-{timezone.now():%Y%m%d%H%M}"  # a beat tick delivered twice starts one run
    run, _ = flow_start(
        author=series.author,
        brief=brief,
        flow_name=series.flow_name,
        idempotency_key=key,
        series_id=series.pk,
        created_by=series.created_by,
    )
    return run
