"""The admin console's budget journey (issue 6) in a real browser: an admin sets a tiny daily budget,
the gateway then refuses the tenant's calls with budget_exceeded, and the console's spend table,
polled by htmx, shows the spend at the limit without a reload."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

import gateway
from gateway import GatewayError
from gateway.catalog import forget_catalog
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from tenants.roles import Role
from tenants.tests.factories import make_member
from testing.fake_server import Behaviour
from tests.browser.support import in_plain_thread, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ledger_prefix(settings):
    """The gateway's Redis ledger under a key prefix of this test's own, read by the console too (the
    live server runs in this process, with these settings)."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    settings.MAESTRO_GATEWAY = {**getattr(settings, "MAESTRO_GATEWAY", {}), "key_prefix": prefix}
    forget_catalog()
    yield prefix
    forget_catalog()


def call_gateway(tenant, prefix: str, text: str):
    """One gateway call for the tenant, answered or refused (the GatewayError is returned)."""
    config = fast_config(key_prefix=prefix, trace_flush_seconds=0)

    def call():
        try:
            return run_with_runtime(
                lambda runtime: gateway.complete(request_for(tenant, text), runtime=runtime), config
            )
        except GatewayError as refused:
            return refused

    return in_plain_thread(call)


def test_an_admin_sets_a_tiny_daily_budget_then_calls_are_refused_and_the_console_shows_it(
    page: Page, tenant_a, fake_provider, ledger_prefix
):
    register_fake_models(tenant_a, fake_provider.base_url)
    admin = make_member(tenant=tenant_a, role=Role.ADMIN).user
    log_in(page, admin.email)

    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Console").click()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Budgets").click()
    expect(page.locator(".spend-table")).to_contain_text("No budgets: spending is unlimited.")
    page.locator("select[name=scope]").select_option(label="Whole tenant")
    page.locator("select[name=period]").select_option(label="Day (UTC)")
    page.get_by_label("Limit (USD)").fill("0.004")
    page.get_by_label("Alert thresholds (%)").fill("50, 100")
    page.get_by_role("button", name="Add budget").click()
    expect(page.get_by_role("status")).to_contain_text("Budget saved")
    budget_row = page.locator(".spend-table tbody tr").first
    expect(budget_row).to_contain_text("Whole tenant · Day (UTC)")
    expect(budget_row).to_contain_text("$0 (0.0%)")
    forget_catalog()  # the gateway's catalog is cached per process; the live server is this process

    # A call spends the budget (the provider reports more input than estimated); the next is refused.
    fake_provider.set_behaviour(Behaviour(text="ok", input_tokens=1500))
    answered = call_gateway(tenant_a, ledger_prefix, "Hi")
    assert not isinstance(answered, GatewayError), answered
    refused = call_gateway(tenant_a, ledger_prefix, "Write a short post about onboarding.")
    assert isinstance(refused, GatewayError)
    assert refused.code == "budget_exceeded"

    # The spend table refreshes itself (htmx, every 5 s): the budget shows as exhausted.
    page.evaluate("window.__samePage = true")
    expect(budget_row).to_contain_text(re.compile(r"\((1\d\d(\.\d)?)%, exhausted\)"), timeout=15_000)
    expect(budget_row.locator("meter")).to_have_attribute("value", re.compile(r"^1\d\d(\.\d)?$"))
    assert page.evaluate("window.__samePage") is True
