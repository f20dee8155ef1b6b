"""Editors' content pages in a real browser: a prompt's new version and rollback, memories' live search."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from authors.models import Author
from memories.services import memory_add
from prompts.models import PromptTemplate
from prompts.services import production_version_of, prompt_defaults_install
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_RULE = "Always end with one question to the reader."


def version_row(page: Page, number: int) -> Locator:
    """The row of version `number` in the Versions table (the Labels table links versions too)."""
    versions = page.locator("section", has=page.get_by_role("heading", name="Versions"))
    return versions.get_by_role("row").filter(has=page.get_by_role("link", name=f"v{number}", exact=True))


@pytest.fixture
def editor(tenant_a):
    return make_member(tenant=tenant_a, role=Role.EDITOR).user


def test_an_editor_saves_a_new_prompt_version_and_rolls_production_back(page: Page, tenant_a, editor):
    with cross_tenant_access("test: install Maestro's shared prompts"):
        prompt_defaults_install()
    log_in(page, editor.email)

    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Prompts").click()
    post_row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="Post", exact=True))
    expect(post_row).to_contain_text("Maestro default")
    post_row.get_by_role("link").click()
    page.get_by_role("link", name="New version").click()

    system_text = page.get_by_role("group", name="Message 1").get_by_label("Text")
    system_text.fill(f"{system_text.input_value()}\n{NEW_RULE}")
    page.get_by_label("Change note").fill("Posts end with a question")
    expect(page.get_by_label("Make this version production right away")).to_be_checked()
    page.get_by_role("button", name="Save version").click()

    # Editing a Maestro default creates the tenant's override: v1 copies the default, v2 is the edit.
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Saved v2 of "))
    expect(page.get_by_text(re.compile(r"^Overrides Maestro's default"))).to_be_visible()
    expect(version_row(page, 2)).to_contain_text("production")
    expect(version_row(page, 2)).to_contain_text("Posts end with a question")

    version_row(page, 1).get_by_role("button", name="Roll back to this").click()
    expect(page.get_by_role("status")).to_have_text("Production now runs v1.")
    expect(version_row(page, 1)).to_contain_text("production")
    expect(version_row(page, 2).get_by_role("button", name="Make production")).to_be_visible()
    expect(page.locator(".history li").first).to_contain_text("rolled back production from v2 to v1")

    with tenant_scope(tenant_a):
        override = PromptTemplate.objects.get(tenant=tenant_a, purpose="post")
        assert production_version_of(override).number == 1
        assert NEW_RULE in str(override.versions.get(number=2).messages)


def test_an_editor_adds_a_memory_and_finds_it_with_the_live_search(page: Page, tenant_a, editor, settings):
    # Hashing embeddings: deterministic and instant (the local model would load in the live server).
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        memory_add(author=author, kind="fact", text="Ana ran the Lisbon marathon in 2023.")
    log_in(page, editor.email)

    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Memories").click()
    page.get_by_role("link", name="Add a memory").click()
    page.get_by_label("Author").select_option(label="Ana Souza")
    page.get_by_label("Kind").select_option(label="Case")
    page.get_by_label("Text").fill("Weekly onboarding calls cut customer churn by 20% at Acme.")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Memory added for Ana Souza.")
    expect(page.locator("#memory-results tbody tr")).to_have_count(2)

    page.evaluate("window.__samePage = true")  # gone if the search reloads the page
    page.get_by_label("Search", exact=True).press_sequentially("churn onboarding", delay=20)
    results = page.locator("#memory-results")
    expect(results).to_contain_text("Best matches for “churn onboarding”")
    expect(results.locator("tbody tr").first).to_contain_text("Weekly onboarding calls cut customer churn")
    expect(page).to_have_url(re.compile(r"[?&]q=churn(\+|%20)onboarding"))
    assert page.evaluate("window.__samePage") is True
