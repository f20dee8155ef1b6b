"""Cached answers are freed when what they were written for changes."""

import pytest

from authors.models import Author
from authors.services import style_profile_save
from gateway.cache import CacheScope, cache_store
from gateway.models import SemanticCacheEntry
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _entry(tenant, author, *, prompt_version_id=None):
    scope = CacheScope(
        tenant_id=tenant.pk,
        purpose="comment",
        author_id=author.pk,
        prompt_version_id=prompt_version_id,
        profile_version=1,
    )
    return cache_store(
        scope=scope,
        request_text="How do I onboard?",
        response_text="Call them.",
        model_alias="m",
        input_tokens=1,
        output_tokens=1,
        cost_micros=10,
        embedding=[0.1] * 384,
    )


def test_a_new_style_profile_frees_the_authors_cached_answers(tenant_a, django_capture_on_commit_callbacks):
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana")
        assert _entry(tenant_a, author) is not None
        with django_capture_on_commit_callbacks(execute=True):
            style_profile_save(author=author, created_by=None, tone="Warm")
        assert not SemanticCacheEntry.objects.filter(author_id=author.pk).exists()
