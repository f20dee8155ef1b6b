"""Helpers for gateway tests: a registry pointing at the fake provider and a runtime per scenario."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from asgiref.sync import async_to_sync

from gateway import GatewayConfig, GatewayRequest, Runtime, build_runtime
from gateway.catalog import forget_catalog
from gateway.models import LLMModel, ProviderEndpoint, TenantPolicy
from gateway.providers.base import Message
from gateway.resilience import RetryPolicy, TimeoutPolicy
from tenants.context import tenant_scope

T = TypeVar("T")

# Prices per million tokens (input, output), by tier.
PRICES = {
    "small": (Decimal("0.5"), Decimal("1.5")),
    "standard": (Decimal(3), Decimal(15)),
    "premium": (Decimal(15), Decimal(75)),
}


def fast_config(**overrides) -> GatewayConfig:
    """Short waits so resilience tests take milliseconds, with a unique Redis key prefix."""
    values = {
        "key_prefix": f"test-{uuid.uuid4().hex[:10]}",
        "retry": RetryPolicy(retries_per_model=2, base_delay=0.02, max_delay=0.1, max_wait_on_same_model=0.5),
        "timeouts": TimeoutPolicy(
            connect=1.0,
            min_first_token=0.3,
            max_first_token=1.0,
            min_between_chunks=0.3,
            max_between_chunks=0.5,
            min_total=1.0,
            max_total=3.0,
        ),
        "circuit_failure_threshold": 3,
        "circuit_cooldown_seconds": 0.3,
        "health_cache_seconds": 0.1,
    }
    values.update(overrides)
    return GatewayConfig(**values)


def run_with_runtime(scenario: Callable[[Runtime], Awaitable[T]], config: GatewayConfig | None = None) -> T:
    """Run an async scenario from a sync test. async_to_sync keeps ORM calls on the test's thread
    (and so inside its transaction); the runtime belongs to this one event loop and is closed."""

    async def main() -> T:
        runtime = build_runtime(config or fast_config())
        try:
            return await scenario(runtime)
        finally:
            await runtime.aclose()

    return async_to_sync(main)()


def register_fake_models(
    tenant, base_url: str, *, second_provider: bool = True, **policy
) -> dict[str, LLMModel]:
    """A tenant-owned registry: small/standard/premium on provider `fake`, standard-b on `fake-b`."""
    forget_catalog()
    with tenant_scope(tenant):
        provider = ProviderEndpoint.objects.create(name="fake", kind="openai", base_url=base_url)
        provider.set_api_key("sk-test-secret-key-1234")
        provider.save()
        models = {}
        for tier, context in (("small", 4096), ("standard", 16384), ("premium", 65536)):
            models[tier] = _model(provider, f"{tier}-a", f"fake-{tier}", tier, context)
        if second_provider:
            other = ProviderEndpoint.objects.create(name="fake-b", kind="anthropic", base_url=base_url)
            models["standard-b"] = _model(other, "standard-b", "fake-standard-b", "standard", 16384)
        # The semantic cache is off unless a test is about it: it would answer repeated test prompts.
        TenantPolicy.objects.update_or_create(tenant=tenant, defaults={"cache_enabled": False, **policy})
    return models


def _model(provider, alias, model_name, tier, context) -> LLMModel:
    input_price, output_price = PRICES[tier]
    return LLMModel.objects.create(
        provider=provider,
        alias=alias,
        model_name=model_name,
        tier=tier,
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        context_window=context,
        max_output_tokens=2048,
    )


def request_for(tenant, text: str = "Write a short post about onboarding.", **fields) -> GatewayRequest:
    fields.setdefault("purpose", "post")
    return GatewayRequest(tenant=tenant, messages=[Message("user", text)], **fields)
