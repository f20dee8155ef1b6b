"""Console pages: who may see them, budgets and models edited through the browser forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from console.tests.factories import make_budget, make_llm_model, make_provider, make_trace, make_webhook
from gateway.catalog import cached_catalog, load_catalog
from gateway.models import Budget, ProviderEndpoint, TenantPolicy
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db

PAGES = [
    "index",
    "budgets",
    "budget_spend",
    "models",
    "dashboard",
    "traces",
    "webhooks",
    "provider_new",
    "model_new",
]


def url(tenant, name, **kwargs):
    return reverse(f"console:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


@pytest.mark.parametrize("role", [Role.VIEWER, Role.WRITER, Role.EDITOR])
def test_members_who_are_not_admins_get_403_on_every_console_page(client_for, members_a, tenant_a, role):
    client = client_for(members_a[role])
    for name in PAGES:
        assert client.get(url(tenant_a, name)).status_code == 403, name
    assert client.post(url(tenant_a, "budgets"), {"scope": "tenant"}).status_code == 403


def test_admin_sees_every_console_page(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    make_trace(tenant=tenant_a)
    for name in PAGES:
        assert client.get(url(tenant_a, name)).status_code == 200, name


def test_admin_of_another_tenant_gets_404_on_console_objects(client_for, members_a, tenant_b):
    client = client_for(members_a[Role.ADMIN])
    budget = make_budget(tenant=tenant_b)
    trace = make_trace(tenant=tenant_b)
    assert client.get(url(tenant_b, "budgets")).status_code == 404
    tenant_a = members_a[Role.ADMIN].tenant
    assert client.get(url(tenant_a, "budget", budget_id=budget.pk)).status_code == 404
    assert client.get(url(tenant_a, "trace", trace_id=trace.pk)).status_code == 404


def test_console_link_in_the_nav_only_for_admins(client_for, members_a, tenant_a):
    console = url(tenant_a, "index")
    assert console in client_for(members_a[Role.ADMIN]).get(f"/t/{tenant_a.slug}/").content.decode()
    assert console not in client_for(members_a[Role.EDITOR]).get(f"/t/{tenant_a.slug}/").content.decode()


# ---- budgets ------------------------------------------------------------------------------------


def _budget_post(**fields):
    return {
        "scope": "tenant",
        "period": "day",
        "limit": "5",
        "thresholds": "50, 90",
        "is_active": "on",
        **fields,
    }


def test_admin_creates_a_budget_with_percent_thresholds(client_for, members_a, tenant_a):
    response = client_for(members_a[Role.ADMIN]).post(url(tenant_a, "budgets"), _budget_post())
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        budget = Budget.objects.get()
    assert (budget.scope, budget.period, budget.limit) == ("tenant", "day", Decimal(5))
    assert budget.alert_thresholds == [0.5, 0.9]


def test_saving_a_budget_drops_the_gateway_catalog_cache(client_for, members_a, tenant_a):
    assert load_catalog(tenant_a).budgets == ()
    assert cached_catalog(tenant_a.pk) is not None
    client_for(members_a[Role.ADMIN]).post(url(tenant_a, "budgets"), _budget_post(limit="0.5"))
    assert cached_catalog(tenant_a.pk) is None
    assert [b.limit_micros for b in load_catalog(tenant_a).budgets] == [500_000]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"scope": "user"}, "Choose the user"),
        ({"scope": "author"}, "Choose the author"),
        ({"thresholds": "80, 150"}, "at most 100 percent"),
        ({"thresholds": "eighty"}, "percentages separated by commas"),
        ({"limit": "-1"}, "greater than or equal to 0"),
    ],
)
def test_invalid_budgets_are_refused_with_a_reason(client_for, members_a, tenant_a, fields, error):
    response = client_for(members_a[Role.ADMIN]).post(url(tenant_a, "budgets"), _budget_post(**fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    with tenant_scope(tenant_a):
        assert not Budget.objects.exists()


def test_a_second_budget_for_the_same_subject_and_period_is_refused(client_for, members_a, tenant_a):
    make_budget(tenant=tenant_a, scope="tenant", period="day")
    response = client_for(members_a[Role.ADMIN]).post(url(tenant_a, "budgets"), _budget_post())
    assert "exists already" in response.content.decode()


def test_user_budget_needs_a_member_of_this_tenant(client_for, members_a, tenant_a, admin_b):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(url(tenant_a, "budgets"), _budget_post(scope="user", user=admin_b.user_id))
    assert "Select a valid choice" in response.content.decode()
    writer = members_a[Role.WRITER].user
    assert (
        client.post(url(tenant_a, "budgets"), _budget_post(scope="user", user=writer.pk)).status_code == 302
    )
    with tenant_scope(tenant_a):
        assert Budget.objects.get().user == writer


def test_admin_edits_and_deactivates_a_budget(client_for, members_a, tenant_a):
    budget = make_budget(tenant=tenant_a, scope="tenant", limit="1")
    client = client_for(members_a[Role.ADMIN])
    page = client.get(url(tenant_a, "budget", budget_id=budget.pk)).content.decode()
    assert 'value="80, 100"' in page
    client.post(url(tenant_a, "budget", budget_id=budget.pk), _budget_post(period="month", limit="20"))
    load_catalog(tenant_a)
    client.post(url(tenant_a, "budget_toggle", budget_id=budget.pk))
    budget.refresh_from_db()
    assert (budget.period, budget.limit, budget.is_active) == ("month", Decimal(20), False)
    assert load_catalog(tenant_a).budgets == ()  # the cache was dropped: inactive budgets do not apply


# ---- models and credentials ---------------------------------------------------------------------


def test_provider_key_is_write_only_and_never_rendered(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    secret = "sk-proj-SUPERSECRET-0123456789"
    response = client.post(
        url(tenant_a, "provider_new"),
        {
            "name": "mine",
            "kind": "openai",
            "base_url": "https://llm.example.test/v1",
            "api_key": secret,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        provider = ProviderEndpoint.objects.get(name="mine")
    assert provider.api_key() == secret
    assert secret not in provider.api_key_encrypted
    pages = [
        client.get(url(tenant_a, "models")),
        client.get(url(tenant_a, "provider", provider_id=provider.pk)),
        client.post(
            url(tenant_a, "provider", provider_id=provider.pk), {"name": "", "kind": "openai"}
        ),  # re-rendered
    ]
    for page in pages:
        html = page.content.decode()
        assert secret not in html
        assert "SUPERSECRET" not in html
    assert provider.api_key_hint in pages[1].content.decode()


def test_empty_key_keeps_the_stored_one_and_a_new_key_replaces_it(client_for, members_a, tenant_a):
    provider = make_provider(tenant=tenant_a, name="mine", api_key="sk-old-key-000000001")
    client = client_for(members_a[Role.ADMIN])
    form = {"name": "mine", "kind": "openai", "base_url": "https://llm.example.test/v2", "is_active": "on"}
    client.post(url(tenant_a, "provider", provider_id=provider.pk), {**form, "api_key": ""})
    provider.refresh_from_db()
    assert (provider.api_key(), provider.base_url) == ("sk-old-key-000000001", "https://llm.example.test/v2")
    client.post(
        url(tenant_a, "provider", provider_id=provider.pk), {**form, "api_key": "sk-new-key-000000002"}
    )
    provider.refresh_from_db()
    assert provider.api_key() == "sk-new-key-000000002"


def test_shared_providers_cannot_be_edited_by_a_tenant(client_for, members_a, tenant_a):
    from tenants.context import cross_tenant_access

    with cross_tenant_access("test: a shared provider"):
        shared = ProviderEndpoint.objects.create(name="shared-x", kind="openai", base_url="https://x.test")
    response = client_for(members_a[Role.ADMIN]).get(url(tenant_a, "provider", provider_id=shared.pk))
    assert response.status_code == 404


def test_policy_saves_allowed_models_tiers_and_switches_and_drops_the_cache(client_for, members_a, tenant_a):
    model = make_llm_model(tenant=tenant_a, alias="mine-small", tier="small")
    load_catalog(tenant_a)
    response = client_for(members_a[Role.ADMIN]).post(
        url(tenant_a, "models"),
        {
            "allowed_models": [model.pk],
            "preference": "economy",
            "max_prompt_chars": "1000",
            "tokens_per_minute": "0",
            "requests_per_minute": "10",
            "cache_threshold": "0.9",
            "cache_ttl_seconds": "60",
            "redact_traces": "on",
            "tier_critique": "premium",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        policy = TenantPolicy.objects.get()
        assert list(policy.allowed_models.all()) == [model]
    assert policy.default_tiers == {"critique": "premium"}
    assert (policy.redact_traces, policy.store_prompts, policy.preference) == (True, False, "economy")
    catalog = load_catalog(tenant_a)
    assert catalog.policy.allowed_aliases == frozenset({"mine-small"})


def test_tenant_model_and_fallback_chain(client_for, members_a, tenant_a):
    provider = make_provider(tenant=tenant_a)
    client = client_for(members_a[Role.ADMIN])
    response = client.post(
        url(tenant_a, "model_new"),
        {
            "provider": provider.pk,
            "alias": "house-model",
            "model_name": "llama",
            "tier": "small",
            "input_price_per_mtok": "0.1",
            "output_price_per_mtok": "0.2",
            "context_window": "8192",
            "max_output_tokens": "512",
            "max_concurrency": "4",
            "prompt_format": "chat",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    client.post(url(tenant_a, "route_save"), {"purpose": "post", "chain": "house-model"})
    bad = client.post(url(tenant_a, "route_save"), {"purpose": "post", "chain": "nope"}, follow=True)
    assert "Unknown or inactive models: nope" in bad.content.decode()
    from gateway.catalog import route_chains

    with tenant_scope(tenant_a):
        assert route_chains() == {"post": ["house-model"]}


def test_webhook_secret_is_shown_once(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    response = client.post(
        url(tenant_a, "webhooks"),
        {"url": "https://hooks.example.test/in", "events": ["draft.ready"], "is_active": "on"},
    )
    first = client.get(response.url).content.decode()
    assert "whsec_" in first
    assert "whsec_" not in client.get(response.url).content.decode()


def test_webhook_list_shows_endpoints_of_this_tenant_only(client_for, members_a, tenant_a, tenant_b):
    make_webhook(tenant=tenant_a, url="https://a.example.test/hook")
    make_webhook(tenant=tenant_b, url="https://b.example.test/hook")
    html = client_for(members_a[Role.ADMIN]).get(url(tenant_a, "webhooks")).content.decode()
    assert "a.example.test" in html
    assert "b.example.test" not in html


def test_trace_detail_explains_the_cache_lookup_in_words_not_a_python_dict(client_for, members_a, tenant_a):
    cache = {
        "hit": False,
        "elapsed_ms": 3.456,
        "reason": "below_threshold",
        "best_similarity": 0.81234,
        "refused": [{"entry_id": 7, "similarity": 0.95, "guard": "negation", "why": "enable vs disable"}],
    }
    routing = {"chain": ["standard-a"], "reasons": [], "excluded": {}, "cache": cache}
    trace = make_trace(tenant=tenant_a, routing=routing)
    page = client_for(members_a[Role.ADMIN]).get(url(tenant_a, "trace", trace_id=trace.pk)).content.decode()
    assert "not answered from the cache" in page
    assert "<dd>3.5 ms</dd>" in page
    assert "<dd>0.812</dd>" in page
    assert "<dd>below threshold</dd>" in page
    assert "<td>negation</td><td>enable vs disable</td>" in page
    assert "{&#x27;hit&#x27;" not in page
    assert "'hit'" not in page


def test_failed_calls_that_reached_no_model_are_not_a_spend_series(members_a, tenant_a):
    from console import selectors

    make_trace(tenant=tenant_a, model_alias="standard-a", cost_micros=1500, input_tokens=10, output_tokens=5)
    make_trace(
        tenant=tenant_a, model_alias="", status="error", cost_micros=0, input_tokens=0, output_tokens=0
    )
    with tenant_scope(tenant_a):
        usage = selectors.usage_series(range_key="7d", dimension="model")
    assert [s["label"] for s in usage["spend"]] == ["standard-a"]
