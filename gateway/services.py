"""Writes to the gateway's records: budgets, policy, providers, models and route preferences.

Each one drops the gateway's cached catalog of the tenant, so this process sees the change at once
and every other process within `catalog.CACHE_SECONDS`."""

from __future__ import annotations

from django.db import transaction

from audit.services import editable_fields, record, stored_values, values_of
from gateway.catalog import forget_catalog
from gateway.models import Budget, LLMModel, ProviderEndpoint, RoutePreference, TenantPolicy
from tenants.models import Tenant


def budget_save(
    *, tenant: Tenant, budget: Budget, user_id: int | None, author_id: int | None, thresholds: list[float]
) -> Budget:
    budget.user_id, budget.author_id = user_id, author_id
    budget.alert_thresholds = thresholds
    budget.full_clean(exclude=["tenant"])
    before = stored_values(budget, editable_fields(budget))
    budget.save()
    after = values_of(budget, editable_fields(budget))
    record(action="budget.changed" if before else "budget.created", target=budget, before=before, after=after)
    forget_catalog(tenant.pk)
    return budget


def budget_set_active(*, tenant: Tenant, budget: Budget, active: bool) -> Budget:
    before = stored_values(budget, ["is_active"])
    budget.is_active = active
    budget.save(update_fields=["is_active"])
    record(action="budget.changed", target=budget, before=before, after={"is_active": active})
    forget_catalog(tenant.pk)
    return budget


@transaction.atomic
def policy_update(
    *, tenant: Tenant, policy: TenantPolicy, allowed_models, default_tiers: dict[str, str]
) -> TenantPolicy:
    before = stored_values(policy, editable_fields(policy))
    policy.default_tiers = default_tiers
    policy.redaction_notice = False  # someone has now seen and saved the redaction settings
    policy.save()
    policy.allowed_models.set(allowed_models)
    after = values_of(policy, editable_fields(policy))
    record(action="policy.changed", target=policy, tenant=tenant, before=before, after=after)
    forget_catalog(tenant.pk)
    return policy


def provider_save(
    *, tenant: Tenant, provider: ProviderEndpoint, api_key: str, clear_api_key: bool
) -> ProviderEndpoint:
    """The key is write-only: a new one replaces the stored one, an empty one keeps it."""
    before = stored_values(provider, editable_fields(provider))
    if clear_api_key:
        provider.api_key_encrypted = ""
    elif api_key:
        provider.set_api_key(api_key)
    provider.save()
    after = values_of(provider, editable_fields(provider))
    if clear_api_key or api_key:  # that the key changed, never the key
        after["api_key"] = "cleared" if clear_api_key else "replaced"
    action = "provider.changed" if before else "provider.created"
    record(action=action, target=provider, tenant=tenant, before=before, after=after)
    forget_catalog(tenant.pk)
    return provider


def llm_model_save(*, tenant: Tenant, model: LLMModel) -> LLMModel:
    before = stored_values(model, editable_fields(model))
    model.save()
    after = values_of(model, editable_fields(model))
    action = "model.changed" if before else "model.created"
    record(action=action, target=model, tenant=tenant, before=before, after=after)
    forget_catalog(tenant.pk)
    return model


def route_preference_save(*, tenant: Tenant, purpose: str, chain: list[str]) -> RoutePreference:
    existing = RoutePreference.objects.filter(purpose=purpose).first()
    before = {"chain": existing.chain} if existing is not None else {}
    preference, _ = RoutePreference.objects.update_or_create(purpose=purpose, defaults={"chain": chain})
    action = "route.changed" if before else "route.created"
    record(action=action, target=preference, before=before, after={"chain": preference.chain})
    forget_catalog(tenant.pk)
    return preference


def route_preference_delete(*, tenant: Tenant, preference: RoutePreference) -> None:
    record(action="route.deleted", target=preference, before={"chain": preference.chain})
    preference.delete()
    forget_catalog(tenant.pk)
