"""The writer's day (issue 11) in a real browser, with real Celery workers, against a provider that
misbehaves the way the embedded small model does: runaway answers with "Post:" and memory labels,
broken JSON unless the request carries a schema, and one slot that two flows must share."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from authors.models import Author
from authors.services import style_profile_save
from gateway.models import LLMModel
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows.services import flow_definitions_install
from prompts.services import prompt_defaults_install
from reviews.models import Draft
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from testing.fake_server import Behaviour
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})
RUNAWAY = (
    "Post: (key_phrase) "
    + " ".join(f"We called customer number {n} in their first week and it kept them." for n in range(1, 9))
    + "<start_of_image>\n\nPost:\nPost: and then the model kept going without ever"
)
SAMPLES = "\n---\n".join(
    [
        "Last week a customer told me our onboarding felt like homework. She was right. We cut it to three.",
        "I used to think more meetings meant more alignment. Then I counted them: 14 a week. Now it is 4.",
        "We lost our biggest deal in March. The reason was a spreadsheet nobody owned. We own it now.",
    ]
)


@pytest.fixture
def day(tenant_a, fake_provider, celery_worker_process, unseen_run_ids):
    """Maestro's prompts and flows on the fake provider, whose models each serve one call at a time."""
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        LLMModel.objects.update(max_concurrency=1)  # one slot each, like a busy local server
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(
            author=author, created_by=None, tone="Direct, warm", formatting={"length": "40-80 words"}
        )
    fake_provider.set_slots(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
        celery_worker_process()
    return author


def _start(page: Page, tenant_slug: str, brief: str) -> str:
    page.goto(f"/t/{tenant_slug}/work/new/")
    page.get_by_label("Author").select_option(label="Ana Souza")
    page.get_by_label("Brief").fill(brief)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/work/runs/\d+/$"))
    return page.url


def test_two_drafts_share_a_busy_slot_come_out_editable_and_a_failed_check_is_never_silent(
    new_context, tenant_a, fake_provider, day
):
    writer = make_member(tenant=tenant_a, role=Role.WRITER).user
    editor = make_member(tenant=tenant_a, role=Role.EDITOR).user
    # Every draft runs away; the first verdict is broken JSON (repaired by a constrained call).
    fake_provider.set_behaviour(Behaviour(text=RUNAWAY, tokens_per_second=60), model="fake-standard")
    fake_provider.enqueue(Behaviour(text='{"passes": tru'), model="fake-small")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")

    first, second = new_context().new_page(), new_context().new_page()
    log_in(first, writer.email)
    log_in(second, writer.email)
    _start(first, tenant_a.slug, "Why we call every new customer in week one")
    _start(second, tenant_a.slug, "What we learned from calling customers")
    for page in (first, second):  # both queue for the one slot; neither fails
        expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=90_000)
        expect(page.locator("#run-result")).to_contain_text("Ready for review")
    with tenant_scope(tenant_a):
        drafts = list(Draft.objects.order_by("pk"))
    assert len(drafts) == 2
    for draft in drafts:
        words = len(draft.original_body.split())
        assert 40 <= words <= 80, draft.original_body  # the card's length, in whole sentences
        assert draft.original_body.rstrip().endswith(".")
        assert "Post:" not in draft.original_body
        assert "(key_phrase)" not in draft.original_body
        assert "<start_of_image>" not in draft.original_body

    # A critic that never answers with a verdict: the run says so, on its page and in the queue.
    fake_provider.set_behaviour(Behaviour(text="Looks great to me, ship it!"), model="fake-small")
    run_url = _start(first, tenant_a.slug, "Three numbers from our first year")
    expect(first.locator("#run-status")).to_have_text("Needs attention", timeout=90_000)
    expect(first.locator("#run-attention")).to_contain_text("verdict")
    first.goto(f"/t/{tenant_a.slug}/work/drafts/")
    expect(first.locator(".attention").first).to_contain_text("Needs attention")
    first.locator(".attention").first.click()
    expect(first).to_have_url(run_url)

    # An editor drafts a style card from sample posts; the model's JSON parses because it was asked for
    # with its schema (a model without constrained decoding would have answered prose).
    prose = Behaviour(text="Sure! Here is the card: {tone: direct", constrained=True)
    for model in ("fake-standard", "fake-small"):
        fake_provider.set_behaviour(prose, model=model)
    page = new_context().new_page()
    log_in(page, editor.email)
    page.goto(f"/t/{tenant_a.slug}/authors/{day.pk}/style/extract/")
    page.get_by_label(re.compile("Sample posts", re.IGNORECASE)).fill(SAMPLES)
    # The page says the model is at work from the moment the form is sent (the answer may take 20 s):
    # what it showed is kept in sessionStorage, which outlives the navigation to the answer.
    page.evaluate(
        "() => document.addEventListener('submit', () => {"
        " const status = document.getElementById('extract-busy');"
        " sessionStorage.setItem('busy', JSON.stringify([status.textContent, status.hidden,"
        " status.closest('form').querySelector('button').disabled])); })"
    )
    page.get_by_role("button", name="Extract the style card").click()
    expect(page.get_by_role("heading", name=re.compile("Review the extracted style card"))).to_be_visible(
        timeout=30_000
    )
    text, hidden, disabled = json.loads(page.evaluate("() => sessionStorage.getItem('busy')"))
    assert (text.startswith("The model is reading the samples"), hidden, disabled) == (True, False, True)
    sent = [r for r in fake_provider.requests() if "response_format" in r.body]
    assert sent, "the style card was not asked for with its JSON schema"
