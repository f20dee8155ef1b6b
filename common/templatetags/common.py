"""Template filters every app's pages use: money in micros, shares as percentages, bidi-safe text."""

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


# Bidi embedding, override and isolate controls (U+202A-202E, U+2066-2069) and the LRM/RLM marks: in
# text a user or a model wrote, they can make "approve" read as something else. Shown as a visible
# placeholder so a reviewer sees that something was there.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F], "\ufffd")


def strip_bidi(text: str) -> str:
    return text.translate(BIDI_CONTROLS)


@register.filter(is_safe=True)
def bidi_safe(value: object) -> str:
    """User or model text with its bidi control characters made harmless (see BIDI_CONTROLS).

    `is_safe` keeps autoescaping as it was: escaped input stays escaped, raw input is escaped later."""
    return "" if value is None else strip_bidi(str(value))
