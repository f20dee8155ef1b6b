"""Template helpers of the writer's pages: ages ("3 h"), money in micros, dashboard figures."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from orchestrator import selectors

register = template.Library()


@register.filter
def age(value: datetime | None) -> str:
    """How long ago, in the largest whole unit: "40 s", "12 min", "3 h", "5 d"."""
    if value is None:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@register.filter
def since(value: datetime | None) -> str:
    """An age that keeps counting in the browser (static/js/maestro.js updates `time[data-since]`)."""
    if value is None:
        return ""
    return format_html(
        '<time datetime="{}" data-since title="{}">{}</time>',
        value.isoformat(),
        timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"),
        age(value),
    )


@register.filter
def took(finished: datetime | None, started: datetime | None) -> str:
    """How long something ran, to the second under an hour: "59 s", "3 min 23 s", "1 h 5 min"."""
    if finished is None or started is None:
        return ""
    seconds = max(0, round((finished - started).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


@register.simple_tag
def work_counts() -> dict[str, int]:
    """Figures for the dashboard tiles (rendered inside the tenant's scope)."""
    return selectors.work_counts()
