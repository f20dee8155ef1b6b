"""Template filters every app's pages use: money in micros, and shares as percentages."""

from __future__ import annotations

from django import template

from common.money import format_micros

register = template.Library()


@register.filter
def money(micros: int | None) -> str:
    """Integer micros as currency units with enough digits for small spends: 1234 -> 0.001234."""
    return format_micros(int(micros or 0))


@register.filter
def percent(value: float | None) -> str:
    """A share from 0 to 1 as a percentage with one decimal when it has one: 0.25 -> 25%, 0.667 -> 66.7%."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%".replace(".0%", "%")
