"""The reviewer's side of the writer's day (issue 11) in a real browser: the queue on a phone, ages that
keep counting, a rewrite read as a sentence diff side by side, learnings that are whole sentences, a
viewer who is shown no forms, and a refusal that keeps the tenant. The draft is made the way the small
model leaves one (runaway, repeated "Post:", a right-to-left override in the brief); no worker runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orchestrator.tests.factories import make_draft
from reviews.models import Draft, LearningProposal
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RUNAWAY = (
    "Post: Most of our posts were about features and nobody read them. "
    "Onboarding calls cut churn by twenty percent in our first quarter. "
    "Post: Post: Post: (key_phrase) the the the"
)
EDITED = (
    "We stopped writing about features last spring. "
    "Onboarding calls cut churn by twenty percent in our first quarter."
)


def test_a_reviewer_reads_a_rewrite_on_phone_and_desktop_and_a_viewer_is_shown_no_forms(
    new_context, tenant_a
):
    writer = make_member(tenant=tenant_a, role=Role.WRITER).user
    viewer = make_member(tenant=tenant_a, role=Role.VIEWER).user
    draft = make_draft(tenant=tenant_a, body=RUNAWAY)
    with tenant_scope(tenant_a):
        Draft.objects.filter(pk=draft.pk).update(brief="Churn \u202eevil\u202c lessons")
    draft_url = f"/t/{tenant_a.slug}/work/drafts/{draft.pk}/"

    # A phone: the queue keeps the state and holder; the navigation stays on one row; ages count.
    ctx_page = new_context().new_page()
    ctx_page.set_viewport_size({"width": 390, "height": 844})
    log_in(ctx_page, writer.email)
    ctx_page.goto(f"/t/{tenant_a.slug}/work/drafts/")
    row = ctx_page.locator(f"#draft-row-{draft.pk}")
    expect(row.locator("td.col-state")).to_be_visible()
    expect(row.locator("td.col-holder")).to_be_attached()
    assert ctx_page.locator("th.col-holder").is_visible()
    expect(row.locator("td.col-flow")).to_be_hidden()
    nav = ctx_page.get_by_role("navigation", name="Tenant").bounding_box()
    assert nav is not None
    assert nav["height"] < 50
    age = ctx_page.locator(f"#draft-row-{draft.pk} time[data-since]")
    first = age.text_content()
    expect(age).not_to_have_text(first or "", timeout=4000)  # it counts on without a reload

    # A wide screen: claim, rewrite the first sentence, save; the diff shows it whole beside the old one.
    page = new_context().new_page()
    log_in(page, writer.email)
    page.goto(draft_url)
    page.get_by_role("button", name="Claim").click()
    page.get_by_label("Draft text").fill(EDITED)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-status")).to_contain_text("Saved")
    changed = page.locator("#word-diff .diff-changed").first
    before, after = changed.locator(".diff-before"), changed.locator(".diff-after")
    expect(before).to_contain_text("Most of our posts were about features")
    expect(after).to_contain_text("We stopped writing about features last spring.")
    box_before, box_after = before.bounding_box(), after.bounding_box()
    assert box_before is not None
    assert box_after is not None
    assert box_before["x"] < box_after["x"]
    assert abs(box_before["y"] - box_after["y"]) < 2
    assert "\u202e" not in page.content()  # the brief's override is neutralised
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#draft-state")).to_have_text("Approved")
    expect(page.locator("#learnings")).to_contain_text(
        'The author writes sentences like: "We stopped writing about features last spring."'
    )
    with tenant_scope(tenant_a):
        texts = list(LearningProposal.objects.filter(draft_id=draft.pk).values_list("text", flat=True))
    assert texts
    assert all(re.search(r'[.!?]"$', text) for text in texts)  # whole sentences, never a fragment

    # A viewer reads the draft, is shown no form, and a refused page keeps the tenant's navigation.
    reader = new_context().new_page()
    log_in(reader, viewer.email)
    reader.goto(draft_url)
    expect(reader.locator("#body-readonly")).to_contain_text("We stopped writing")
    expect(reader.locator("textarea")).to_have_count(0)
    expect(reader.get_by_role("button", name="Approve")).to_have_count(0)
    response = reader.goto(f"/t/{tenant_a.slug}/work/new/")
    assert response is not None
    assert response.status == 403
    expect(reader.locator("#forbidden")).to_contain_text("(viewer)")
    expect(reader.get_by_role("navigation", name="Tenant")).to_be_visible()
