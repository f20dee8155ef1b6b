"""Console test objects, each made inside its tenant's scope."""

from __future__ import annotations

import uuid
from decimal import Decimal

from gateway.models import Budget, LLMModel, ProviderEndpoint, RoutePreference, Trace
from tenants.context import tenant_scope
from tenants.tests.factories import UserFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create


def make_budget(*, tenant, limit: str = "10", **fields) -> Budget:
    """By default a daily budget of a fresh user, so that several can be made for one tenant."""
    if "scope" not in fields:
        fields.update(scope="user", user=UserFactory())
    fields.setdefault("period", "day")
    with tenant_scope(tenant):
        return Budget.objects.create(limit=Decimal(limit), **fields)


def make_provider(
    *, tenant, name: str | None = None, api_key: str = "sk-live-abcdefghijkl9876"
) -> ProviderEndpoint:
    with tenant_scope(tenant):
        provider = ProviderEndpoint(
            name=name or f"prov-{uuid.uuid4().hex[:6]}", kind="openai", base_url="http://127.0.0.1:9/v1"
        )
        provider.set_api_key(api_key)
        provider.save()
        return provider


def make_llm_model(*, tenant, alias: str | None = None, tier: str = "standard", provider=None) -> LLMModel:
    provider = provider or make_provider(tenant=tenant)
    with tenant_scope(tenant):
        return LLMModel.objects.create(
            provider=provider,
            alias=alias or f"model-{uuid.uuid4().hex[:6]}",
            model_name="m",
            tier=tier,
            input_price_per_mtok=Decimal(1),
            output_price_per_mtok=Decimal(2),
            context_window=8192,
            max_output_tokens=1024,
        )


def make_route(*, tenant, purpose: str | None = None, chain=("a", "b")) -> RoutePreference:
    purpose = purpose or f"purpose-{uuid.uuid4().hex[:6]}"
    with tenant_scope(tenant):
        return RoutePreference.objects.create(purpose=purpose, chain=list(chain))


def make_trace(*, tenant, created_at=None, **fields) -> Trace:
    defaults = {
        "purpose": "post",
        "status": "ok",
        "model_alias": "standard-a",
        "attempts": [{"model": fields.get("model_alias", "standard-a"), "status": "ok"}],
        "routing": {"chain": ["standard-a"], "reasons": ["complexity standard"], "excluded": {}},
    }
    with tenant_scope(tenant):
        trace = Trace.objects.create(**{**defaults, **fields})
        if created_at is not None:
            Trace.objects.filter(pk=trace.pk).update(created_at=created_at)
            trace.refresh_from_db()
        return trace


def make_webhook(
    *, tenant, url: str = "http://127.0.0.1:9/hook", events=("draft.approved",)
) -> WebhookEndpoint:
    with tenant_scope(tenant):
        endpoint, _secret = webhook_endpoint_create(url=url, events=list(events))
        return endpoint


def make_delivery(*, tenant, endpoint=None) -> WebhookDelivery:
    endpoint = endpoint or make_webhook(tenant=tenant)
    with tenant_scope(tenant):
        return WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="draft.approved",
            payload={"id": "x", "event": "draft.approved", "data": {}},
        )
