"""Template helpers of the writer's pages: ages ("3 h"), money in micros, dashboard figures."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

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




@register.simple_tag
def work_counts() -> dict[str, int]:
    """Figures for the dashboard tiles (rendered inside the tenant's scope)."""
    return selectors.work_counts()
