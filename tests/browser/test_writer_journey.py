"""The writer's journey (issue 5) in real browsers, on a real Celery worker and the fake provider:
start a flow, watch the draft being written live (Server-Sent Events, no reload), claim, edit and
approve it, while a second writer in another browser cannot claim it."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from authors.models import Author
from authors.services import style_profile_save
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows.services import flow_definitions_install
from prompts.services import prompt_defaults_install
from reviews.models import Draft, DraftState
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from testing.fake_server import Behaviour
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})
DRAFT = (  # 40 words
    "We call every new customer in week one, every time. The call takes twenty minutes and has no"
    " agenda. Customers tell us what confused them before they tell anyone else. Half of last year's"
    " product fixes started on those calls."
)
EDITED = "Three onboarding calls in week one cut our churn by 20%. What does your first week look like?"
WORDS_IN_LIVE_TEXT = """() => {
  const text = document.getElementById("live-text");
  return text ? text.textContent.trim().split(/\\s+/).filter(Boolean).length : -1;
}"""


@pytest.fixture
def post_flow(tenant_a, fake_provider):
    """Maestro's prompts and flows, models on the fake provider, and one author with a style."""
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(author=author, created_by=None, tone="Direct, warm", banned_phrases=[])
    return author


@pytest.fixture
def worker(celery_worker_process):
    """A real worker process, started without the browser tests' lifted async check (conftest.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
        return celery_worker_process()


def words_in_live_text(page: Page) -> int:
    return page.evaluate(WORDS_IN_LIVE_TEXT)


def test_a_writer_watches_a_flow_live_then_edits_and_approves_while_another_cannot_claim(
    new_context, tenant_a, post_flow, fake_provider, worker, unseen_run_ids
):
    # The draft streams 40 words at 20 per second: slow enough to be seen arriving. It ends a sentence,
    # so the flow's own checks (orchestrator/flows/finishing.py) pass it to review as it is.
    fake_provider.enqueue(Behaviour(text=DRAFT, tokens_per_second=20), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    first = make_member(tenant=tenant_a, role=Role.WRITER).user
    second = make_member(tenant=tenant_a, role=Role.WRITER).user
    ana = new_context().new_page()
    log_in(ana, first.email)

    ana.get_by_role("navigation", name="Tenant").get_by_role("link", name="New draft").click()
    ana.get_by_label("Author").select_option(label="Ana Souza")
    expect(ana.get_by_label("Flow")).to_have_value("post")
    ana.get_by_label("Brief").fill("Why we call every new customer in week one")
    ana.get_by_role("button", name="Start").click()
    expect(ana).to_have_url(re.compile(r"/t/tenant-a/work/runs/\d+/$"))
    ana.evaluate("window.__samePage = true")  # gone if anything reloads the page

    # Text arrives while the run is still going: some words first, then more, before the result.
    ana.wait_for_function(f"() => ({WORDS_IN_LIVE_TEXT})() >= 3")
    seen = words_in_live_text(ana)
    assert 3 <= seen < 40
    expect(ana.locator("#review-link")).to_have_count(0)
    ana.wait_for_function(f"() => ({WORDS_IN_LIVE_TEXT})() >= {seen + 5}")
    # The finished run is swapped in by the live script: the draft, ready for review.
    expect(ana.locator("#run-status")).to_have_text("Succeeded")
    expect(ana.locator("#run-result")).to_contain_text("Ready for review")
    assert ana.evaluate("window.__samePage") is True

    ana.get_by_role("link", name="Review this draft").click()
    draft_url = ana.url
    ben = new_context().new_page()
    log_in(ben, second.email)
    ben.goto(draft_url)
    expect(ben.get_by_role("button", name="Claim")).to_be_visible()  # free, for now

    ana.get_by_role("button", name="Claim").click()
    expect(ana.locator("#claim-banner")).to_contain_text("You are reviewing this draft")

    # Ben's page is stale: his claim reaches the server after Ana's, and is refused.
    ben.get_by_role("button", name="Claim").click()
    expect(ben.get_by_role("status").first).to_contain_text(f"{first.email} is reviewing this draft")
    expect(ben.locator("#claim-banner")).to_contain_text(f"{first.email} is reviewing this draft")
    expect(ben.get_by_role("button", name="Claim")).to_have_count(0)
    expect(ben.get_by_role("button", name="Approve")).to_have_count(0)
    expect(ben.get_by_label("Draft text")).to_be_disabled()

    ana.get_by_label("Draft text").fill(EDITED)
    ana.get_by_role("button", name="Save", exact=True).click()
    expect(ana.locator("#save-status")).to_contain_text("Saved")
    expect(ana.locator("#word-diff ins").first).to_be_visible()
    ana.get_by_role("button", name="Approve").click()
    expect(ana.get_by_role("status").first).to_contain_text("Approved.")
    expect(ana.locator("#draft-state")).to_have_text("Approved")

    with tenant_scope(tenant_a):
        draft = Draft.objects.get()
        approval = draft.transitions.get(to_state=DraftState.APPROVED)
    assert (draft.state, draft.body, approval.actor_id) == (DraftState.APPROVED, EDITED, first.pk)
    assert len(draft.original_body.split()) == 40  # the whole streamed draft was kept
