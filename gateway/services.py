"""Writes to the gateway's records: budgets, policy, providers, models and route preferences.

Each one drops the gateway's cached catalog of the tenant, so this process sees the change at once
and every other process within `catalog.CACHE_SECONDS`."""

from __future__ import annotations

from django.db import transaction

from gateway.catalog import forget_catalog
from gateway.models import Budget, LLMModel, ProviderEndpoint, RoutePreference, TenantPolicy
from tenants.models import Tenant


def budget_save(
    *, tenant: Tenant, budget: Budget, user_id: int | None, author_id: int | None, thresholds: list[float]
) -> Budget:
    budget.user_id, budget.author_id = user_id, author_id
    budget.alert_thresholds = thresholds
    budget.full_clean(exclude=["tenant"])
    budget.save()
    forget_catalog(tenant.pk)
    return budget


def budget_set_active(*, tenant: Tenant, budget: Budget, active: bool) -> Budget:
    budget.is_active = active
    budget.save(update_fields=["is_active"])
    forget_catalog(tenant.pk)
    return budget


@transaction.atomic
def policy_update(
    *, tenant: Tenant, policy: TenantPolicy, allowed_models, default_tiers: dict[str, str]
) -> TenantPolicy:
    policy.default_tiers = default_tiers
    policy.save()
    policy.allowed_models.set(allowed_models)
    forget_catalog(tenant.pk)
    return policy


def provider_save(
    *, tenant: Tenant, provider: ProviderEndpoint, api_key: str, clear_api_key: bool
) -> ProviderEndpoint:
    """The key is write-only: a new one replaces the stored one, an empty one keeps it."""
    if clear_api_key:
        provider.api_key_encrypted = ""
    elif api_key:
        provider.set_api_key(api_key)
    provider.save()
    forget_catalog(tenant.pk)
    return provider


def llm_model_save(*, tenant: Tenant, model: LLMModel) -> LLMModel:
    model.save()
    forget_catalog(tenant.pk)
    return model


def route_preference_save(*, tenant: Tenant, purpose: str, chain: list[str]) -> RoutePreference:
    preference, _ = RoutePreference.objects.update_or_create(purpose=purpose, defaults={"chain": chain})
    forget_catalog(tenant.pk)
    return preference


def route_preference_delete(*, tenant: Tenant, preference: RoutePreference) -> None:
    preference.delete()
    forget_catalog(tenant.pk)
