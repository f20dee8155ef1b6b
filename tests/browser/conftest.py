"""Browser tests: Playwright drives Debian's headless Chromium against pytest-django's live server.

Nothing is downloaded at run time: the `playwright` wheel carries its driver, and the browser is
Debian's `chromium` package (`make test` installs it; see docs/browser-tests.md). Every test gets a
fresh browser context (cookies, storage) from one Chromium started for the package; on failure, each of
the test's pages is saved as a screenshot in `.data/browser-failures/`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from orchestrator.models import FlowRun

ROOT = Path(__file__).resolve().parent.parent.parent
FAILURES = ROOT / ".data" / "browser-failures"

# The flags this machine needs: no sandbox as root, and no background traffic (the network is closed,
# and Chromium would otherwise retry Google's hosts at every start).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Waits for elements and text: generous for a loaded CI machine, short enough to fail fast.
TIMEOUT_MS = 10_000
INSTALL_HINT = (
    "Browser tests need Debian's Chromium. `make test` installs it when run as root; otherwise run\n"
    "    sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium\n"
    "or point MAESTRO_CHROMIUM at a Chromium binary."
)


def chromium_path() -> str:
    path = os.environ.get("MAESTRO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail(f"No Chromium at {path}.\n{INSTALL_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="package")
def playwright_driver(django_db_setup, live_server) -> Iterator[Playwright]:
    """Playwright for this package's tests only, started after the test database and the live server.

    Its sync API marks an asyncio loop as running on this thread between its calls (until it stops),
    and Django then refuses ORM calls here (SynchronousOnlyOperation): fixtures and tests create rows,
    and the transactional tests flush tables. That loop never runs Django code, so the check is
    lifted while the package runs, and restored, with the loop gone, before any other test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as driver:
            yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    chromium = playwright_driver.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for the screenshots on failure below."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_context(request, browser: Browser, live_server) -> Iterator[Callable[[], BrowserContext]]:
    """`new_context()` opens one more browser (own cookies) on the live server: a second user."""
    contexts: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_context
    reports = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
    failed = any(report is not None and report.failed for report in reports)
    for number, context in enumerate(contexts):
        if failed:
            _screenshot(request.node.name, number, context)
        context.close()


def _screenshot(test_name: str, number: int, context: BrowserContext) -> None:
    FAILURES.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", test_name)
    for index, page in enumerate(context.pages):
        try:
            page.screenshot(path=FAILURES / f"{stem}-{number}-{index}.png", full_page=True)
            (FAILURES / f"{stem}-{number}-{index}.html").write_text(page.content())
        except Exception as exc:  # a failed screenshot must not hide the test's own failure
            print(f"screenshot of {page.url} failed: {exc}")


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


@pytest.fixture
def unseen_run_ids():
    """Start FlowRun ids where no earlier test run went. A run's progress is a Redis stream keyed by
    the run id alone (orchestrator.flows.events), on a Redis shared by every test run on this machine,
    while each run recreates its test database and so restarts ids at 1: the page of run 1 would
    replay the stale stream of an earlier run 1 (for up to an hour) and stop listening early."""
    start = time.time_ns() // 1000 % 10**15  # microseconds: unique per run, far above other runs' ids
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [FlowRun._meta.db_table, start])
