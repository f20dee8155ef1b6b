"""A tenant admin cannot point a provider inside our network: the form says so, and nothing is saved
(the gateway also refuses every connection to such an address: gateway/tests/test_call_reliability.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gateway.models import ProviderEndpoint
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:6379/v1", "http://169.254.169.254/latest", "http://[::1]:8000/v1"]
)
def test_a_provider_url_inside_our_network_is_refused_by_the_form(
    client_for, members_a, tenant_a, settings, base_url
):
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
    response = client_for(members_a[Role.ADMIN]).post(
        reverse("console:provider_new", kwargs={"tenant_slug": tenant_a.slug}),
        {"name": "sneaky", "kind": "openai", "base_url": base_url, "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with the reason
    assert "resolves to an internal address" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not ProviderEndpoint.objects.filter(name="sneaky").exists()


def test_the_operator_may_allow_private_networks_for_self_hosted_models(
    client_for, members_a, tenant_a, settings
):
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = True
    response = client_for(members_a[Role.ADMIN]).post(
        reverse("console:provider_new", kwargs={"tenant_slug": tenant_a.slug}),
        {"name": "vllm", "kind": "openai", "base_url": "http://10.0.0.5:8000/v1", "is_active": "on"},
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert ProviderEndpoint.objects.filter(name="vllm").exists()
