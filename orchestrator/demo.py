"""Demo data for the gateway and flows, run by `seed_demo` once per demo tenant (inside its scope).

Registers the embedded local model (llama.cpp, started by `make run`) as a shared
provider with a nominal price (LOCAL_MODEL_PRICE),
installs Maestro's shared flows, gives each tenant a policy,
a daily budget, and a paused weekly series (an editor resumes it from the Series page).
"""

from __future__ import annotations

import os
from decimal import Decimal

from authors.models import Author
from gateway.models import (
    Budget,
    BudgetPeriod,
    BudgetScope,
    LLMModel,
    PromptFormat,
    ProviderEndpoint,
    TenantPolicy,
    Tier,
)
from orchestrator.flows.series import series_save
from orchestrator.flows.services import flow_definitions_install
from orchestrator.models import Series
from tenants.models import Tenant

LOCAL_PROVIDER = "local"
LOCAL_MODEL_ALIAS = "local-small"
LOCAL_MODEL_SLOTS = 2  # config.local_model.PARALLEL_SLOTS, which this layer may not import
# Running the local model costs nothing, but a demo at $0 shows no spend, no budget use and no refusal.
# A nominal price (USD per million tokens, about a small hosted model's) makes them visible from the
# first run; an admin changes it in the Django admin (Gateway > LLM models > local-small).
LOCAL_MODEL_PRICE = {"input_price_per_mtok": Decimal("0.50"), "output_price_per_mtok": Decimal("1.50")}


def seed(*, tenant: Tenant) -> None:
    TenantPolicy.objects.get_or_create(tenant=tenant)
    Budget.objects.get_or_create(
        scope=BudgetScope.TENANT,
        period=BudgetPeriod.DAY,
        user=None,
        author=None,
        defaults={"limit": Decimal("5.00")},
    )
    _seed_series()


def _seed_series() -> None:
    author = Author.objects.filter(is_active=True).order_by("pk").first()
    if author is None:
        author, _ = Author.objects.get_or_create(
            name="Sam Rivera", defaults={"headline": "Founder at a B2B SaaS company", "language": "en"}
        )
    if Series.objects.filter(name="Monday lessons").exists():
        return
    series_save(
        series=Series(
            name="Monday lessons",
            author=author,
            flow_name="post",
            brief="One lesson from last week's customer calls, with a concrete number or example.",
            cron="0 9 * * 1",
            is_active=False,  # paused: the demo should not spend on model calls until someone chooses to
        )
    )


def seed_shared() -> None:
    flow_definitions_install()
    base_url = os.environ.get("MAESTRO_LOCAL_MODEL_URL", "http://127.0.0.1:8091/v1")
    model_name = os.environ.get("MAESTRO_LOCAL_MODEL_NAME", "gemma3-270m")
    provider, _ = ProviderEndpoint.objects.update_or_create(
        tenant=None,
        name=LOCAL_PROVIDER,
        defaults={"kind": "openai", "base_url": base_url, "is_active": True},
    )
    fields = {
        "provider": provider,
        "model_name": model_name,
        "tier": Tier.SMALL,
        "context_window": 8192,
        "max_output_tokens": 1024,
        "capabilities": ["streaming"],
        # The server's slots (config/local_model.py, --parallel): further calls wait in the gateway's
        # line, where the wait does not count against the first-token timeout.
        "max_concurrency": LOCAL_MODEL_SLOTS,
        "prompt_format": PromptFormat.DOCUMENT,  # Gemma 3 270M is a base model: it continues documents
    }
    # The price is set once, when the model is first registered, so an admin's change survives reseeding.
    LLMModel.objects.update_or_create(
        tenant=None,
        alias=LOCAL_MODEL_ALIAS,
        defaults=fields,
        create_defaults={**fields, **LOCAL_MODEL_PRICE},
    )
