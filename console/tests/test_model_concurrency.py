"""The console's model form edits a model's concurrency limit and prompt format."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.tests.factories import make_provider
from gateway.models import LLMModel
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db

FORM = {
    "alias": "local-box",
    "model_name": "gemma3-270m",
    "tier": "small",
    "input_price_per_mtok": "0",
    "output_price_per_mtok": "0",
    "context_window": "8192",
    "max_output_tokens": "512",
    "is_active": "on",
}


def test_an_admin_sets_a_models_concurrent_calls_and_prompt_format(client_for, members_a, tenant_a):
    provider = make_provider(tenant=tenant_a)
    client = client_for(members_a[Role.ADMIN])
    new_url = reverse("console:model_new", kwargs={"tenant_slug": tenant_a.slug})
    page = client.get(new_url).content.decode()
    assert "Concurrent calls" in page
    assert "Document: a base model" in page
    saved = client.post(
        new_url, {**FORM, "provider": provider.pk, "max_concurrency": "2", "prompt_format": "document"}
    )
    assert saved.status_code == 302
    with tenant_scope(tenant_a):
        model = LLMModel.objects.get(alias="local-box")
    assert (model.max_concurrency, model.prompt_format) == (2, "document")


def test_a_negative_limit_or_an_unknown_format_is_refused_and_nothing_is_saved(
    client_for, members_a, tenant_a
):
    provider = make_provider(tenant=tenant_a)
    client = client_for(members_a[Role.ADMIN])
    new_url = reverse("console:model_new", kwargs={"tenant_slug": tenant_a.slug})
    response = client.post(
        new_url, {**FORM, "provider": provider.pk, "max_concurrency": "-1", "prompt_format": "poetry"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"max_concurrency", "prompt_format"}
    with tenant_scope(tenant_a):
        assert not LLMModel.objects.filter(alias="local-box").exists()
