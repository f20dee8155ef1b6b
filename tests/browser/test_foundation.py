"""The tenant shell in a real browser: log in, tenant switcher, log out, Django's admin, lock-out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tenants.roles import Role
from tenants.tests.factories import UserFactory, make_member
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_logs_in_switches_to_the_second_tenant_and_logs_out(page: Page, tenant_a, tenant_b):
    writer = make_member(tenant=tenant_a, role=Role.WRITER).user
    make_member(tenant=tenant_b, role=Role.VIEWER, user=writer)

    log_in(page, writer.email)
    expect(page).to_have_url(re.compile(r"/t/tenant-a/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenant A")
    expect(page.get_by_text("You are writer here.")).to_be_visible()

    page.get_by_label("Switch tenant").click()
    page.get_by_role("link", name=re.compile(r"^Tenant B")).click()
    expect(page).to_have_url(re.compile(r"/t/tenant-b/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenant B")
    expect(page.get_by_text("You are viewer here.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Maestro")).to_be_visible()
    page.goto("/t/tenant-b/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/t/tenant-b/"))


def test_a_staff_member_opens_django_admin_from_the_top_bar(page: Page, tenant_a):
    staff = UserFactory(is_staff=True, is_superuser=True)
    make_member(tenant=tenant_a, role=Role.ADMIN, user=staff)

    log_in(page, staff.email)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.get_by_role("link", name="Tenants", exact=True).click()
    expect(page.get_by_role("link", name="Tenant A", exact=True)).to_be_visible()


def test_repeated_wrong_passwords_lock_the_account_out(page: Page, tenant_a, settings):
    member = make_member(tenant=tenant_a, role=Role.EDITOR).user
    page.goto("/accounts/login/")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        page.get_by_label("Email").fill(member.email)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".errors")).to_contain_text("enter a correct email and password")

    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()

    # Locked: even the right password now shows the lock-out page.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
