"""The issue's browser journey with the test client: an admin sets a tiny daily budget in the console,
the gateway then refuses the tenant's calls with budget_exceeded, and the console shows the spend at
or over the limit. (The Playwright version of the same journey lives with the browser test setup.)"""

from __future__ import annotations

import pytest
from django.conf import settings

import gateway
from console.tests.factories import make_webhook
from gateway import GatewayError
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from tenants.roles import Role
from testing.fake_server import Behaviour
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def _complete(request):
    # The gateway's ledger under the same key prefix the console reads (see conftest.py).
    config = fast_config(key_prefix=settings.MAESTRO_GATEWAY["key_prefix"], trace_flush_seconds=0)
    return run_with_runtime(lambda runtime: gateway.complete(request, runtime=runtime), config)


def test_admin_sets_a_tiny_daily_budget_and_the_next_call_is_refused(
    client_for, members_a, tenant_a, fake_provider
):
    register_fake_models(tenant_a, fake_provider.base_url)
    make_webhook(tenant=tenant_a, events=["budget.alert"])
    admin = client_for(members_a[Role.ADMIN])
    console = f"/t/{tenant_a.slug}/console/budgets/"

    # 1. The admin sets a daily budget of $0.004 with alerts at 50% and 100%.
    response = admin.post(
        console,
        {"scope": "tenant", "period": "day", "limit": "0.004", "thresholds": "50, 100", "is_active": "on"},
    )
    assert response.status_code == 302
    assert "Budget saved" in admin.get(response.url).content.decode()

    # 2. A call spends most of it; the provider reports more input than estimated, so it ends over.
    fake_provider.set_behaviour(Behaviour(text="ok", input_tokens=1500))
    first = _complete(request_for(tenant_a, "Hi"))
    assert first.cost * 1_000_000 >= 4000

    # 3. The next call is refused: the budget is exhausted.
    exhausted = r"^The tenant daily budget is used up \(0\.00\d\d of 0\.0040\); it resets at \d{4}-\d\d-\d\dT"
    with pytest.raises(GatewayError, match=exhausted) as refused:
        _complete(request_for(tenant_a, "Write a short post about onboarding."))
    assert refused.value.code == "budget_exceeded"
    assert "tenant daily budget" in refused.value.message

    # 4. The console shows the spend at or over the limit (the htmx-polled fragment too).
    page = admin.get(console)
    [spend] = page.context["spends"]
    assert spend.spent_micros >= spend.budget.limit_micros
    assert spend.exhausted
    assert spend.source == "ledger"
    assert "exhausted" in page.content.decode()
    fragment = admin.get(f"{console}spend/", headers={"HX-Request": "true"})
    assert "exhausted" in fragment.content.decode()
    assert "<h1>" not in fragment.content.decode()

    # The refusal is in the trace explorer; the crossings and the refusal ("exhausted") were queued as
    # budget.alert webhooks.
    with tenant_scope(tenant_a):
        assert Trace.objects.filter(status="refused", error_code="budget_exceeded").count() == 1
        alerts = sorted(
            (d.payload["data"]["kind"], d.payload["data"]["threshold"]) for d in WebhookDelivery.objects.all()
        )
        assert alerts == [("exhausted", 1.0), ("threshold", 0.5), ("threshold", 1.0)]
        assert Budget.objects.get().limit_micros == 4000
    traces = admin.get(f"/t/{tenant_a.slug}/console/traces/", {"error_code": "budget_exceeded"})
    assert len(traces.context["page"]) == 1
