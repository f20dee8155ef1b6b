"""Privacy by default: what a new tenant's prompt looks like when it reaches the (fake) provider and
the trace, the tenant's own terms and its authors' names, and the upgrade of existing tenants."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse

import gateway
from authors.models import Author
from gateway.catalog import forget_catalog, load_catalog
from gateway.models import TenantPolicy, Trace
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from tenants.models import Role
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db

PII = {
    "e-mail": "ana.souza@empresa.com.br",
    "phone": "+55 11 91234-5678",
    "CPF": "529.982.247-25",
    "CNPJ": "11.222.333/0001-81",
    "card": "4111 1111 1111 1111",
    "name": "Maria Silva",
    "address": "Rua das Flores 123",
}
PROMPT = (
    f"Write a thank-you post for {PII['name']} ({PII['e-mail']}, {PII['phone']}), who lives at "
    f"{PII['address']}. Invoice CPF {PII['CPF']}, CNPJ {PII['CNPJ']}, paid with card {PII['card']}."
)


def _complete(request):
    return run_with_runtime(lambda rt: gateway.complete(request, runtime=rt))


def _sent(fake_provider) -> str:
    return fake_provider.requests()[-1].body["messages"][-1]["content"]


def _new_tenant_without_a_policy(tenant, fake_provider):
    """The registry a test needs, and then no policy row at all: a tenant that never set anything."""
    register_fake_models(tenant, fake_provider.base_url)
    with tenant_scope(tenant):
        TenantPolicy.objects.all().delete()
    forget_catalog(tenant.pk)


def test_a_new_tenants_prompt_reaches_the_provider_redacted(tenant_a, fake_provider):
    _new_tenant_without_a_policy(tenant_a, fake_provider)
    response = _complete(request_for(tenant_a, PROMPT))
    sent = _sent(fake_provider)
    for kind, value in PII.items():
        assert value not in sent, f"the {kind} reached the provider"
    for placeholder in (
        "[EMAIL_1]",
        "[PHONE_1]",
        "[CPF_1]",
        "[CNPJ_1]",
        "[CARD_1]",
        "[NAME_1]",
        "[ADDRESS_1]",
    ):
        assert placeholder in sent
    # The fake echoes the prompt: the writer gets every value back, the stored trace none of them.
    assert all(value in response.text for value in PII.values())
    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=response.call_id)
    assert trace.redacted
    stored = trace.prompt[0]["content"] + trace.response
    assert not [kind for kind, value in PII.items() if value in stored]


def test_a_new_policy_row_has_redaction_on(tenant_a):
    with tenant_scope(tenant_a):
        policy = TenantPolicy.objects.create()
    assert (policy.redact_prompts, policy.redact_traces, policy.redact_names) == (True, True, True)
    assert policy.ttft_alert_seconds == 2.0


def test_a_tenant_that_switches_redaction_off_sends_its_prompt_as_written(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, redact_prompts=False, redact_traces=False)
    _complete(request_for(tenant_a, PROMPT))
    assert _sent(fake_provider) == PROMPT


def test_the_tenants_sensitive_terms_and_its_authors_names_never_leave(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, sensitive_terms="Projeto Atlas\nHelix Corp\n")
    with tenant_scope(tenant_a):
        Author.objects.create(name="Zed Quorrin", headline="CEO")  # in no list of names
    forget_catalog(tenant_a.pk)
    fake_provider.set_behaviour(Behaviour(text="Zed Quorrin on projeto atlas"))
    response = _complete(request_for(tenant_a, "Post by Zed Quorrin about projeto atlas for Helix Corp."))
    sent = _sent(fake_provider)
    assert "Quorrin" not in sent
    assert "atlas" not in sent.lower()
    assert "Helix" not in sent
    assert response.text == "Zed Quorrin on projeto atlas"


def test_another_tenants_terms_do_not_apply(tenant_a, tenant_b, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, sensitive_terms="Helix Corp")
    register_fake_models(tenant_b, fake_provider.base_url)
    _complete(request_for(tenant_b, "A post for Helix Corp."))
    assert "Helix Corp" in _sent(fake_provider)


def test_the_upgrade_switches_existing_tenants_on_and_says_so(tenant_a, tenant_b, client_for, members_a):
    name = "0004_privacy_by_default_and_latency_alerts"
    migration = importlib.import_module(f"gateway.migrations.{name}")
    with tenant_scope(tenant_a):
        TenantPolicy.objects.create(redact_prompts=False, redact_traces=False)
    # The models as the migration sees them (historical, with plain managers).
    state = MigrationLoader(connection).project_state(("gateway", name))
    migration.switch_redaction_on(state.apps, None)
    with tenant_scope(tenant_a):
        policy = TenantPolicy.objects.get()
    assert (policy.redact_prompts, policy.redact_traces, policy.redaction_notice) == (True, True, True)
    # tenant_b has no policy row, and gets none: its calls take the defaults, redaction on.
    with tenant_scope(tenant_b):
        assert not TenantPolicy.objects.exists()
    forget_catalog()
    policy_b = load_catalog(tenant_b).policy
    assert (policy_b.redact_prompts, policy_b.redact_traces, policy_b.redaction.detect_names) == (
        True,
        True,
        True,
    )
    page = client_for(members_a[Role.ADMIN]).get(
        reverse("console:index", kwargs={"tenant_slug": tenant_a.slug})
    )
    assert "this upgrade switched on masking" in page.content.decode()


@pytest.mark.parametrize("upgraded", [True, False], ids=["upgraded tenant", "tenant without a policy"])
def test_the_console_shows_the_redaction_notice_until_the_policy_is_saved(
    client_for, members_a, tenant_a, upgraded
):
    if upgraded:
        with tenant_scope(tenant_a):
            TenantPolicy.objects.create(redaction_notice=True)
    client = client_for(members_a[Role.ADMIN])
    dashboard = reverse("console:index", kwargs={"tenant_slug": tenant_a.slug})
    assert b'id="redaction-notice"' in client.get(dashboard).content
    saved = client.post(
        reverse("console:models", kwargs={"tenant_slug": tenant_a.slug}),
        {"preference": "balanced", "max_prompt_chars": "60000", "tokens_per_minute": "0",
         "requests_per_minute": "0", "cache_threshold": "0.8", "cache_ttl_seconds": "60",
         "redact_prompts": "on", "redact_traces": "on", "redact_names": "on"},
    )  # fmt: skip
    assert saved.status_code == 302
    assert b'id="redaction-notice"' not in client.get(dashboard).content


def test_a_sensitive_term_too_short_to_be_safe_is_refused_with_the_reason(client_for, members_a, tenant_a):
    response = client_for(members_a[Role.ADMIN]).post(
        reverse("console:models", kwargs={"tenant_slug": tenant_a.slug}),
        {"preference": "balanced", "max_prompt_chars": "60000", "tokens_per_minute": "0",
         "requests_per_minute": "0", "cache_threshold": "0.8", "cache_ttl_seconds": "60",
         "sensitive_terms": "Helix Corp\nab"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "at least 3 characters" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not TenantPolicy.objects.exists()  # nothing half-saved
