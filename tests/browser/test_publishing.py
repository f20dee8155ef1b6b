"""From approved to published (issue 14) in a real browser, on a real Celery worker and the fake LinkedIn:
an editor connects the author's LinkedIn through the consent redirect, a writer schedules an approved
draft at a chosen time on the author's clock, the post reaches the fake LinkedIn when its time comes,
the draft shows delivered with LinkedIn's id, and the metrics pulled from LinkedIn appear on the
author's publishing page, on the author's own page and in the prompt experiment's results."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orchestrator.tests.factories import make_author
from prompts.tests.factories import make_experiment
from publishing import services
from publishing.models import PostStatus, ScheduledPost
from publishing.tasks import publish_post
from publishing.tests.factories import make_approved_draft, make_schedule
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from testing.fake_linkedin import FakeLinkedIn
from tests.browser.support import in_plain_thread, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LISBON = ZoneInfo("Europe/Lisbon")
TEXT = "We call every new customer in their first week (no exceptions). Churn fell by a fifth. #onboarding"


@pytest.fixture
def fake_linkedin(live_server, settings):
    """The fake LinkedIn, with this process's settings and the worker's environment pointed at it."""
    with FakeLinkedIn.start() as fake, pytest.MonkeyPatch.context() as patch:
        redirect_uri = f"{live_server.url}/publishing/linkedin/callback/"
        settings.MAESTRO_LINKEDIN = fake.settings(redirect_uri=redirect_uri)
        for name, value in fake.environment(redirect_uri=redirect_uri).items():
            patch.setenv(name, value)
        yield fake


@pytest.fixture
def worker(celery_worker_process, fake_linkedin):
    """A real worker process, started without the browser tests' lifted async check (conftest.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
        return celery_worker_process(concurrency=2)


def _wait_for_status(tenant, post_id: int, status: str, timeout: float = 30) -> ScheduledPost:
    deadline = time.monotonic() + timeout
    while True:
        with tenant_scope(tenant):
            post = ScheduledPost.objects.get(pk=post_id)
        if post.status == status or time.monotonic() > deadline:
            return post
        time.sleep(0.2)


def test_an_approved_draft_is_scheduled_published_at_its_time_and_its_metrics_come_back(
    new_context, tenant_a, fake_linkedin, worker
):
    editor = make_member(tenant=tenant_a, role=Role.EDITOR).user
    author = make_author(tenant=tenant_a, name="Ana Souza")
    make_schedule(tenant=tenant_a, author=author, time_zone="Europe/Lisbon")
    experiment = make_experiment(tenant=tenant_a)
    draft = make_approved_draft(
        tenant=tenant_a, author=author, body=TEXT, experiment_id=experiment.pk, variant="A"
    )
    fake_linkedin.set_member(sub="ana-123", name="Ana Souza")
    page = new_context().new_page()
    log_in(page, editor.email)

    # Connect the author's LinkedIn: LinkedIn's consent page (the fake consents) sends the browser back.
    page.goto(f"/t/{tenant_a.slug}/publishing/authors/{author.pk}/")
    page.get_by_role("button", name="Connect LinkedIn").click()
    expect(page.locator("#linkedin-status")).to_contain_text("Connected as Ana Souza")
    expect(page.locator("#linkedin-status")).to_contain_text("urn:li:person:ana-123")

    # Schedule the approved draft from its review page, at a chosen time on the author's clock.
    page.goto(f"/t/{tenant_a.slug}/work/drafts/{draft.pk}/")
    page.locator("#publishing-link").click()
    at_local = (
        (timezone.now() + timedelta(days=1))
        .astimezone(LISBON)
        .replace(hour=8, minute=45, second=0, microsecond=0)
    )
    page.get_by_label("At a chosen time").check()
    page.locator("#schedule-at").fill(at_local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Channel").select_option("linkedin")
    page.locator("#schedule-submit").click()
    expect(page.locator("#post-status")).to_have_text("Scheduled")
    expect(page.locator("#post-at")).to_contain_text(at_local.strftime("%H:%M"))

    # The week view shows it on its day; nothing goes out before its time.
    page.goto(f"/t/{tenant_a.slug}/publishing/?author={author.pk}&start={at_local.date().isoformat()}")
    card = page.locator(f"#day-{at_local.date().isoformat()} .post-card")
    expect(card).to_contain_text("08:45")
    expect(card).to_contain_text("Scheduled")

    # A writer moves it into one of the author's free slots of the week (htmx swaps the calendar).
    card.locator("summary").click()
    slot_select = card.get_by_label(re.compile("Free slot for post"))
    slot_label = slot_select.locator("option").first.text_content() or ""
    card.get_by_role("button", name="Move to slot").click()
    expect(page.locator("ul.messages")).to_contain_text("Moved.")
    moved = page.locator(".post-card", has_text="Scheduled")
    expect(moved).to_contain_text(slot_label.split()[-1])  # the slot's time, e.g. 09:00
    assert page.url.endswith(f"start={at_local.date().isoformat()}")  # no reload: htmx swapped the fragment
    with tenant_scope(tenant_a):
        at = ScheduledPost.objects.get(draft=draft).at
    assert at.astimezone(LISBON).strftime("%H:%M") == "09:00"
    assert in_plain_thread(lambda: services.posts_due(now=at - timedelta(seconds=1))) == []
    assert fake_linkedin.posts() == []

    # Its time comes: beat's listing sends it to the worker, which publishes it to LinkedIn.
    due = in_plain_thread(lambda: services.posts_due(now=at))
    assert [(tenant_id, post_id) for tenant_id, post_id, _ in due] == [(tenant_a.pk, due[0][1])]
    for tenant_id, post_id, due_at in due:
        publish_post.delay(tenant_id, post_id, due_at)
    post = _wait_for_status(tenant_a, due[0][1], PostStatus.DELIVERED)
    assert post.status == PostStatus.DELIVERED, post.last_error
    [received] = fake_linkedin.posts()
    assert received.body["author"] == "urn:li:person:ana-123"
    assert received.body["commentary"].startswith(
        r"We call every new customer in their first week \(no exceptions\)"
    )

    # The draft is delivered, with LinkedIn's id on its publishing page.
    page.goto(f"/t/{tenant_a.slug}/work/drafts/{draft.pk}/")
    expect(page.locator("#draft-state")).to_have_text("Delivered")
    page.locator("#publishing-link").click()
    expect(page.locator("#post-status")).to_have_text("Delivered")
    expect(page.locator("#external-id")).to_have_text(received.urn)

    # Metrics pulled from LinkedIn appear on the author's page and in the experiment's results.
    fake_linkedin.set_statistics(received.urn, impressions=1200, reactions=40, comments=7, reposts=3)
    page.goto(f"/t/{tenant_a.slug}/publishing/authors/{author.pk}/")
    page.get_by_role("button", name="Collect metrics from LinkedIn now").click()
    expect(page.locator("#author-totals")).to_contain_text("1200")
    expect(page.locator("#author-totals")).to_contain_text("40")
    expect(page.locator("#author-totals")).to_contain_text("engagement 4.2%")

    # The author's own page shows the same results, and the delivered post with its metrics.
    page.goto(f"/t/{tenant_a.slug}/authors/{author.pk}/")
    results = page.locator("#post-results")
    expect(results.locator("#author-totals")).to_contain_text("1200")
    expect(results.locator("#author-totals")).to_contain_text("engagement 4.2%")
    recent = results.locator(f"#recent-post-{post.pk}")
    expect(recent).to_contain_text("We call every new customer")
    expect(recent.locator(".post-status")).to_contain_text("Delivered")
    expect(recent).to_contain_text("1200")
    expect(recent).to_contain_text("40")
    page.goto(f"/t/{tenant_a.slug}/publishing/results/")
    row = page.locator(f"#experiment-{experiment.pk}")
    expect(row).to_contain_text("1 posts · 1200 impr.")
    expect(row.locator(".suggested")).to_have_text("\N{EN DASH}")  # one post: no winner suggested
