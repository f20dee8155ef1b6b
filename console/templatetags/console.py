from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from common.money import micros_to_units

register = template.Library()

# The API keys pages are built in the `api` app; link to whichever of these names it registers.
API_KEY_URL_NAMES = ("api:keys", "api:api_keys", "api:key_list", "api_keys:list")


@register.filter
def micros(value) -> str:
    """Integer micros as currency units with enough digits for small spends: 1234 -> 0.001234."""
    units = micros_to_units(int(value or 0))
    return f"{units:.2f}" if units >= 100 else f"{units:.6f}".rstrip("0").rstrip(".") or "0"


@register.filter
def pct(value) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%".replace(".0%", "%")


@register.simple_tag
def api_keys_url(tenant_slug: str) -> str:
    for name in API_KEY_URL_NAMES:
        try:
            return reverse(name, kwargs={"tenant_slug": tenant_slug})
        except NoReverseMatch:
            continue
    return ""
