"""Helpers of the browser tests: log in through the real form, and run code off Playwright's thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection
from playwright.sync_api import Page, expect

from tenants.tests.factories import PASSWORD

T = TypeVar("T")


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through the real login form and wait until the app has left the login page."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def in_plain_thread(function: Callable[[], T]) -> T:
    """Run `function` on a thread of its own and return its result.

    Playwright's sync API leaves an asyncio loop marked as running on the test's thread, where
    asgiref's async_to_sync (the gateway's `complete_sync`, for one) refuses to start. The other
    thread has its own database connection: fine in the transactional tests the browser needs."""

    def run() -> T:
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
