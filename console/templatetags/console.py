from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

# The API keys pages are built in the `api` app; link to whichever of these names it registers.
API_KEY_URL_NAMES = ("api:keys", "api:api_keys", "api:key_list", "api_keys:list")


@register.simple_tag
def api_keys_url(tenant_slug: str) -> str:
    for name in API_KEY_URL_NAMES:
        try:
            return reverse(name, kwargs={"tenant_slug": tenant_slug})
        except NoReverseMatch:
            continue
    return ""
