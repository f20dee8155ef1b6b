"""Demo data for the gateway, run by `seed_demo` once per demo tenant (inside its scope).

Registers the embedded local model (llama.cpp, started by `make run`) as a shared
provider with a zero price, gives each tenant a policy and a daily budget.
"""

from __future__ import annotations

import os
from decimal import Decimal

from orchestrator.models import (
    Budget,
    BudgetPeriod,
    BudgetScope,
    LLMModel,
    ProviderEndpoint,
    TenantPolicy,
    Tier,
)
from tenants.models import Tenant

LOCAL_PROVIDER = "local"
LOCAL_MODEL_ALIAS = "local-small"


def seed(*, tenant: Tenant) -> None:
    TenantPolicy.objects.get_or_create(tenant=tenant)
    Budget.objects.get_or_create(
        scope=BudgetScope.TENANT,
        period=BudgetPeriod.DAY,
        user=None,
        author=None,
        defaults={"limit": Decimal("5.00")},
    )


def seed_shared() -> None:
    base_url = os.environ.get("MAESTRO_LOCAL_MODEL_URL", "http://127.0.0.1:8091/v1")
    model_name = os.environ.get("MAESTRO_LOCAL_MODEL_NAME", "gemma3-270m")
    provider, _ = ProviderEndpoint.objects.update_or_create(
        tenant=None,
        name=LOCAL_PROVIDER,
        defaults={"kind": "openai", "base_url": base_url, "is_active": True},
    )
    LLMModel.objects.update_or_create(
        tenant=None,
        alias=LOCAL_MODEL_ALIAS,
        defaults={
            "provider": provider,
            "model_name": model_name,
            "tier": Tier.SMALL,
            "input_price_per_mtok": Decimal(0),
            "output_price_per_mtok": Decimal(0),
            "context_window": 8192,
            "max_output_tokens": 1024,
            "capabilities": ["streaming"],
        },
    )
