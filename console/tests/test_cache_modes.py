"""The policy page shows and saves the semantic cache's mode per purpose."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gateway.cache import CacheScope, cache_lookup, cache_store, forget_cache_policy
from gateway.models import TenantPolicy
from tenants.context import tenant_scope
from tenants.models import Role

pytestmark = pytest.mark.django_db

FORM = {
    "preference": "balanced",
    "max_prompt_chars": "60000",
    "tokens_per_minute": "0",
    "requests_per_minute": "0",
    "cache_enabled": "on",
    "cache_threshold": "0.78",
    "cache_ttl_seconds": "3600",
}


def _page(tenant) -> str:
    return reverse("console:models", kwargs={"tenant_slug": tenant.slug})


def test_the_policy_page_shows_each_purposes_cache_mode_with_its_default(client_for, members_a, tenant_a):
    response = client_for(members_a[Role.ADMIN]).get(_page(tenant_a))
    html = response.content.decode()
    assert "Semantic cache per purpose" in html
    assert 'name="cache_post"' in html
    assert 'name="cache_critique"' in html
    assert "Default: exact repeats only." in html  # posts
    assert "Default: semantic (same request, other words)." in html  # critique


def test_a_saved_mode_is_stored_and_applies_to_lookups(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(_page(tenant_a), FORM | {"cache_post": "semantic", "cache_critique": "off"})
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert TenantPolicy.objects.get().cache_modes == {"post": "semantic", "critique": "off"}
    forget_cache_policy()
    scope = CacheScope(tenant_id=tenant_a.pk, purpose="post")
    cache_store(
        scope=scope, request_text="Write a post about hiring juniors", response_text="A post.",
        model_alias="m", input_tokens=1, output_tokens=1, cost_micros=1,
    )  # fmt: skip
    assert cache_lookup(scope=scope, request_text="Hi team, write a post about hiring juniors")
    # Back to the default: nothing stored for the purpose.
    client.post(_page(tenant_a), FORM | {"cache_post": "exact", "cache_critique": "off"})
    with tenant_scope(tenant_a):
        assert TenantPolicy.objects.get().cache_modes == {"critique": "off"}


def test_an_unknown_mode_is_refused_and_nothing_changes(client_for, members_a, tenant_a):
    response = client_for(members_a[Role.ADMIN]).post(_page(tenant_a), FORM | {"cache_post": "always"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not TenantPolicy.objects.filter(cache_modes__has_key="post").exists()
