"""What one tenant's calls may use: its policy, models, providers and budgets, loaded from
PostgreSQL and cached in-process for a few seconds so the hot path does not query per call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from common.money import cost_micros
from gateway.cache.policy import OFF as CACHE_OFF
from gateway.cache.policy import mode_for as cache_mode_for
from gateway.models import Budget, LLMModel, ProviderEndpoint, RoutePreference, TenantPolicy
from gateway.providers.base import ProviderConfig
from gateway.redaction import DEFAULT_RULES, RedactionRules, known_names
from gateway.router_model.store import RouterConfig, router_config
from tenants.context import tenant_scope
from tenants.models import Tenant

CACHE_SECONDS = 5.0
logger = logging.getLogger("maestro.gateway")


@dataclass(frozen=True)
class ModelEntry:
    id: int
    alias: str
    model_name: str
    tier: str
    provider_id: int
    provider_name: str
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    context_window: int
    max_output_tokens: int
    max_concurrency: int = 0  # 0: no limit; else calls wait in line for a slot (gateway/limits/semaphore.py)
    prompt_format: str = "chat"  # "document": a base model, sent GatewayRequest.document when there is one

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        return cost_micros(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_price_per_mtok=self.input_price_per_mtok,
            output_price_per_mtok=self.output_price_per_mtok,
        )

    def affordable_output_tokens(self, budget_micros: int, input_tokens: int) -> int:
        """How many output tokens fit in `budget_micros` once the input is paid for."""
        left = Decimal(budget_micros) - input_tokens * self.input_price_per_mtok
        if left < 0:
            return 0
        if self.output_price_per_mtok == 0:
            return self.max_output_tokens
        return int(left // self.output_price_per_mtok)


@dataclass(frozen=True)
class BudgetEntry:
    id: int
    scope: str
    period: str
    user_id: int | None
    author_id: int | None
    limit_micros: int
    alert_thresholds: tuple[float, ...]


@dataclass(frozen=True)
class PolicyEntry:
    allowed_aliases: frozenset[str] = frozenset()
    preference: str = "balanced"
    default_tiers: dict[str, str] = field(default_factory=dict)
    max_prompt_chars: int = 60_000
    tokens_per_minute: int = 200_000
    requests_per_minute: int = 600
    redact_prompts: bool = True  # privacy by default: a tenant without a policy row is masked too
    redact_traces: bool = True
    store_prompts: bool = True
    fallback_chains: dict[str, list[str]] = field(default_factory=dict)  # purpose -> aliases to try first
    redaction: RedactionRules = DEFAULT_RULES  # sensitive terms, known names (docs/redaction.md)
    cache_enabled: bool = True  # as TenantPolicy; the cache's own policy read is gateway/cache/store.py
    cache_modes: dict[str, str] = field(default_factory=dict)

    def cache_off_reason(self, purpose: str) -> str | None:
        """Why a call of `purpose` never meets the semantic cache, or None when it may."""
        if not self.cache_enabled:
            return "cache disabled for this tenant"
        if cache_mode_for(purpose, self.cache_modes) == CACHE_OFF:
            return f"cache off for {purpose!r}"
        return None


@dataclass(frozen=True)
class TenantCatalog:
    tenant_id: int
    policy: PolicyEntry
    models: tuple[ModelEntry, ...]
    providers: dict[int, ProviderConfig]
    budgets: tuple[BudgetEntry, ...]
    loaded_at: float
    router: RouterConfig | None = None  # the learned router's dial and artefact; None: rules only

    def model(self, alias: str) -> ModelEntry | None:
        return next((m for m in self.models if m.alias == alias), None)


_cache: dict[int, TenantCatalog] = {}


def cached_catalog(tenant_id: int) -> TenantCatalog | None:
    cached = _cache.get(tenant_id)
    if cached and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
        return cached
    return None


def load_catalog(tenant: Tenant, *, fresh: bool = False) -> TenantCatalog:
    cached = _cache.get(tenant.pk)
    if cached and not fresh and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
        return cached
    with tenant_scope(tenant):
        catalog = TenantCatalog(
            tenant_id=tenant.pk,
            policy=_policy(),
            models=tuple(_models()),
            providers=_providers(),
            budgets=tuple(_budgets()),
            loaded_at=time.monotonic(),
            router=_router(tenant.pk),
        )
    _cache[tenant.pk] = catalog
    return catalog


def forget_catalog(tenant_id: int | None = None) -> None:
    """Drop cached catalogs (after an admin edits policy, models or budgets)."""
    if tenant_id is None:
        _cache.clear()
    else:
        _cache.pop(tenant_id, None)


def _policy() -> PolicyEntry:
    # Read here rather than through gateway.selectors, which builds on this module (budget windows).
    chains = {pref.purpose: list(pref.chain) for pref in RoutePreference.objects.all()}
    policy = TenantPolicy.objects.prefetch_related("allowed_models").first()
    known = known_names()
    if policy is None:
        return PolicyEntry(fallback_chains=chains, redaction=RedactionRules(known_names=known))
    return PolicyEntry(
        allowed_aliases=frozenset(m.alias for m in policy.allowed_models.all()),
        preference=policy.preference,
        default_tiers=dict(policy.default_tiers or {}),
        max_prompt_chars=policy.max_prompt_chars,
        tokens_per_minute=policy.tokens_per_minute,
        requests_per_minute=policy.requests_per_minute,
        redact_prompts=policy.redact_prompts,
        redact_traces=policy.redact_traces,
        store_prompts=policy.store_prompts,
        fallback_chains=chains,
        redaction=RedactionRules(
            sensitive_terms=tuple(policy.sensitive_terms_list),
            known_names=known,
            detect_names=policy.redact_names,
            detect_addresses=policy.redact_names,
        ),
        cache_enabled=policy.cache_enabled,
        cache_modes=dict(policy.cache_modes or {}),
    )


def _models() -> list[ModelEntry]:
    rows = LLMModel.objects.filter(is_active=True, provider__is_active=True).select_related("provider")
    entries = {}
    # A tenant's own model shadows a shared one of the same alias.
    for row in sorted(rows, key=lambda r: r.tenant_id is not None):
        entries[row.alias] = ModelEntry(
            id=row.pk,
            alias=row.alias,
            model_name=row.model_name,
            tier=row.tier,
            provider_id=row.provider_id,
            provider_name=row.provider.name,
            input_price_per_mtok=row.input_price_per_mtok,
            output_price_per_mtok=row.output_price_per_mtok,
            context_window=row.context_window,
            max_output_tokens=row.max_output_tokens,
            max_concurrency=row.max_concurrency,
            prompt_format=row.prompt_format,
        )
    return list(entries.values())


def _providers() -> dict[int, ProviderConfig]:
    return {
        p.pk: ProviderConfig(
            kind=p.kind,
            base_url=p.base_url,
            api_key=p.api_key(),
            extra_headers=dict(p.extra_headers or {}),
            operator=p.tenant_id is None,
        )
        for p in ProviderEndpoint.objects.filter(is_active=True)
    }


def _budgets() -> list[BudgetEntry]:
    return [
        BudgetEntry(
            id=b.pk,
            scope=b.scope,
            period=b.period,
            user_id=b.user_id,
            author_id=b.author_id,
            limit_micros=b.limit_micros,
            alert_thresholds=tuple(sorted(b.alert_thresholds or [])),
        )
        for b in Budget.objects.filter(is_active=True)
    ]


def _router(tenant_id: int) -> RouterConfig | None:
    """A router that cannot load (a bad artefact) leaves the rules in charge, never fails the catalog."""
    try:
        return router_config(tenant_id)
    except Exception:
        logger.exception("learned router unavailable for tenant %s; routing by rules", tenant_id)
        return None


def route_chains() -> dict[str, list[str]]:
    """For the router (via the gateway catalog): purpose -> ordered aliases to try first."""
    return {pref.purpose: list(pref.chain) for pref in RoutePreference.objects.all()}
