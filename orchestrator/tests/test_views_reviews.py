"""The review queue, the draft page, learnings and series, through the browser's test client."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from memories.models import Memory
from orchestrator.flows import events
from orchestrator.models import FlowRun, Series
from orchestrator.tests.factories import make_author, make_definition, make_draft, make_proposal, make_series
from reviews.models import Draft, DraftState, LearningProposal
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member

pytestmark = pytest.mark.django_db


def url(name: str, tenant, **kwargs) -> str:
    return reverse(f"orchestrator:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


def _reload(tenant, draft) -> Draft:
    with tenant_scope(tenant):
        return Draft.objects.get(pk=draft.pk)


def _queued_task_names() -> list[str]:
    client = events._client()
    names = []
    while (raw := client.rpop(settings.CELERY_TASK_DEFAULT_QUEUE)) is not None:
        message = json.loads(raw)
        json.loads(base64.b64decode(message["body"]))
        names.append(message["headers"]["task"])
    return names


@pytest.fixture
def writer(members_a):
    return members_a[Role.WRITER]


@pytest.fixture
def second_writer(tenant_a):
    return make_member(tenant=tenant_a, role=Role.WRITER)


# ---- the queue ----------------------------------------------------------------------


def test_the_queue_lists_open_drafts_with_their_age_and_who_holds_them(
    client_for, writer, tenant_a, tenant_b
):
    old = make_draft(tenant=tenant_a, created_at=timezone.now() - timedelta(hours=3, minutes=5))
    make_draft(tenant=tenant_a, state=DraftState.APPROVED, body="Already approved text")
    make_draft(tenant=tenant_b, body="Tenant B secret draft")
    page = client_for(writer).get(url("drafts", tenant_a)).content.decode()
    assert f'id="draft-row-{old.pk}"' in page
    assert "3 h" in page
    assert "Already approved text" not in page
    assert "Tenant B secret draft" not in page
    assert 'id="review-next"' in page
    assert 'id="approve-selected"' in page
    assert 'id="shortcuts-help"' in page


def test_queue_filters_by_author_state_and_age_and_htmx_gets_only_the_table(client_for, writer, tenant_a):
    ana, bo = make_author(tenant=tenant_a, name="Ana"), make_author(tenant=tenant_a, name="Bo")
    old = make_draft(tenant=tenant_a, author=ana, created_at=timezone.now() - timedelta(days=2))
    new = make_draft(tenant=tenant_a, author=ana)
    other = make_draft(tenant=tenant_a, author=bo, state=DraftState.APPROVED)
    client = client_for(writer)
    by_age = client.get(url("drafts", tenant_a), {"author": ana.pk, "age": "1d"}, HTTP_HX_REQUEST="true")
    page = by_age.content.decode()
    assert "<html" not in page
    assert f"draft-row-{old.pk}" in page
    assert f"draft-row-{new.pk}" not in page
    by_state = client.get(url("drafts", tenant_a), {"state": "approved"}).content.decode()
    assert f"draft-row-{other.pk}" in by_state
    assert f"draft-row-{old.pk}" not in by_state


def test_review_next_claims_the_oldest_waiting_draft(client_for, writer, tenant_a):
    oldest = make_draft(tenant=tenant_a, created_at=timezone.now() - timedelta(hours=5))
    make_draft(tenant=tenant_a)
    response = client_for(writer).post(url("draft_next", tenant_a))
    assert response.url == url("draft", tenant_a, draft_id=oldest.pk)
    assert _reload(tenant_a, oldest).claimed_by_id == writer.user_id


def test_bulk_approve_reports_which_drafts_failed_and_why(client_for, writer, second_writer, tenant_a):
    free = make_draft(tenant=tenant_a)
    held = make_draft(tenant=tenant_a)
    client_for(second_writer).post(url("draft_claim", tenant_a, draft_id=held.pk))
    response = client_for(writer).post(
        url("drafts_bulk_approve", tenant_a), {"draft": [free.pk, held.pk]}, follow=True
    )
    page = response.content.decode()
    assert "Approved 1 draft." in page
    assert f"Draft {held.pk} was not approved" in page
    assert "is reviewing this draft" in page
    assert _reload(tenant_a, free).state == DraftState.APPROVED
    assert _reload(tenant_a, held).state == DraftState.IN_REVIEW


# ---- claims ----------------------------------------------------------------------


def test_a_writer_claims_a_draft_and_a_second_writer_is_told_who_has_it(
    client_for, writer, second_writer, tenant_a
):
    draft = make_draft(tenant=tenant_a)
    mine = (
        client_for(writer).post(url("draft_claim", tenant_a, draft_id=draft.pk), follow=True).content.decode()
    )
    assert "You are reviewing this draft until" in mine
    assert 'id="save"' in mine
    response = client_for(second_writer).post(url("draft_claim", tenant_a, draft_id=draft.pk), follow=True)
    page = response.content.decode()
    until = timezone.localtime(_reload(tenant_a, draft).claim_expires_at).strftime("%H:%M")
    assert f"{writer.user} is reviewing this draft until {until}" in page
    assert _reload(tenant_a, draft).claimed_by_id == writer.user_id


def test_an_expired_claim_lets_another_writer_claim(client_for, writer, second_writer, tenant_a):
    draft = make_draft(tenant=tenant_a)
    client_for(writer).post(url("draft_claim", tenant_a, draft_id=draft.pk))
    with tenant_scope(tenant_a):
        Draft.objects.filter(pk=draft.pk).update(claim_expires_at=timezone.now() - timedelta(minutes=1))
    client_for(second_writer).post(url("draft_claim", tenant_a, draft_id=draft.pk))
    assert _reload(tenant_a, draft).claimed_by_id == second_writer.user_id


def test_a_viewer_cannot_claim_or_decide(client_for, members_a, tenant_a):
    draft = make_draft(tenant=tenant_a)
    client = client_for(members_a[Role.VIEWER])
    for name in ("draft_claim", "draft_approve", "draft_reject", "draft_edit"):
        assert client.post(url(name, tenant_a, draft_id=draft.pk), {"reason": "x"}).status_code == 403
    page = client.get(url("draft", tenant_a, draft_id=draft.pk)).content.decode()
    assert 'id="claim"' not in page
    assert 'id="approve"' not in page


# ---- edit, diff, decide ----------------------------------------------------------------------


def test_editing_in_place_saves_and_shows_the_word_diff(client_for, writer, tenant_a):
    draft = make_draft(tenant=tenant_a, body="Onboarding calls cut churn.")
    client = client_for(writer)
    client.post(url("draft_claim", tenant_a, draft_id=draft.pk))
    response = client.post(
        url("draft_edit", tenant_a, draft_id=draft.pk),
        {"body": "Three onboarding calls cut churn."},
        HTTP_HX_REQUEST="true",
    )
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert "Saved" in fragment
    assert "<del>Onboarding</del>" in fragment
    assert "<ins>Three onboarding</ins> calls" in fragment
    assert _reload(tenant_a, draft).body == "Three onboarding calls cut churn."
    page = client.get(url("draft", tenant_a, draft_id=draft.pk)).content.decode()
    assert 'id="word-diff"' in page
    assert (
        '<div class="diff-after"><span class="visually-hidden">Now: </span><ins>Three onboarding</ins> calls'
        in page
    )


def test_editing_without_a_claim_is_refused(client_for, writer, tenant_a):
    draft = make_draft(tenant=tenant_a, body="Original.")
    response = client_for(writer).post(
        url("draft_edit", tenant_a, draft_id=draft.pk), {"body": "Mine."}, HTTP_HX_REQUEST="true"
    )
    assert "Claim this draft first" in response.content.decode()
    assert _reload(tenant_a, draft).body == "Original."


def test_approving_an_edited_draft_keeps_edit_distance_and_proposes_learnings(client_for, writer, tenant_a):
    draft = make_draft(tenant=tenant_a, body="We made onboarding a total game changer for everyone.")
    client = client_for(writer)
    client.post(url("draft_claim", tenant_a, draft_id=draft.pk))
    response = client.post(
        url("draft_approve", tenant_a, draft_id=draft.pk),
        {"body": "Three onboarding calls cut churn by 20 percent for everyone."},
        follow=True,
    )
    page = response.content.decode()
    approved = _reload(tenant_a, draft)
    assert approved.state == DraftState.APPROVED
    assert 0 < approved.edit_distance < 1
    assert "learnings proposed" in page
    assert 'id="learnings"' in page
    with tenant_scope(tenant_a):
        assert LearningProposal.objects.filter(draft=draft).count() >= 2
        history = list(approved.transitions.values_list("to_state", "actor"))
    assert history == [(DraftState.IN_REVIEW, writer.user_id), (DraftState.APPROVED, writer.user_id)]


def test_rejecting_needs_a_reason(client_for, writer, tenant_a):
    draft = make_draft(tenant=tenant_a)
    client = client_for(writer)
    response = client.post(url("draft_reject", tenant_a, draft_id=draft.pk), {"reason": "  "})
    assert response.status_code == 400
    assert 'id="reason-error"' in response.content.decode()
    assert _reload(tenant_a, draft).state == DraftState.READY
    client.post(url("draft_reject", tenant_a, draft_id=draft.pk), {"reason": "Off-brand tone"})
    rejected = _reload(tenant_a, draft)
    assert rejected.state == DraftState.REJECTED
    with tenant_scope(tenant_a):
        assert rejected.transitions.last().reason == "Off-brand tone"


def test_requesting_changes_sends_the_draft_to_the_revise_task(
    client_for, writer, tenant_a, django_capture_on_commit_callbacks
):
    _queued_task_names()
    draft = make_draft(tenant=tenant_a)
    client = client_for(writer)
    client.post(url("draft_claim", tenant_a, draft_id=draft.pk))
    assert (
        client.post(url("draft_changes", tenant_a, draft_id=draft.pk), {"instructions": ""}).status_code
        == 400
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url("draft_changes", tenant_a, draft_id=draft.pk), {"instructions": "Lead with the number"}
        )
    changed = _reload(tenant_a, draft)
    assert (changed.state, changed.human_rounds) == (DraftState.CHANGES_REQUESTED, 1)
    assert "orchestrator.tasks.revise_draft" in _queued_task_names()
    page = client.get(url("draft", tenant_a, draft_id=draft.pk)).content.decode()
    assert 'id="waiting"' in page
    poll = client.get(url("draft", tenant_a, draft_id=draft.pk), {"part": "poll"}, HTTP_HX_REQUEST="true")
    assert poll.status_code == 204


def test_a_draft_assigned_to_someone_else_cannot_be_claimed(client_for, writer, second_writer, tenant_a):
    draft = make_draft(tenant=tenant_a)
    client_for(writer).post(
        url("draft_assign", tenant_a, draft_id=draft.pk), {"assignee": second_writer.user_id}
    )
    assert _reload(tenant_a, draft).assigned_to_id == second_writer.user_id
    page = (
        client_for(writer).post(url("draft_claim", tenant_a, draft_id=draft.pk), follow=True).content.decode()
    )
    assert "assigned to" in page
    assert _reload(tenant_a, draft).state == DraftState.READY


def test_a_draft_cannot_be_assigned_to_a_member_of_another_tenant(client_for, writer, tenant_a, admin_b):
    draft = make_draft(tenant=tenant_a)
    client_for(writer).post(url("draft_assign", tenant_a, draft_id=draft.pk), {"assignee": admin_b.user_id})
    assert _reload(tenant_a, draft).assigned_to_id is None


# ---- learnings ----------------------------------------------------------------------


@pytest.fixture
def hashing_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


def test_an_editor_accepts_a_learning_and_it_becomes_a_memory(
    client_for, members_a, tenant_a, hashing_embeddings
):
    proposal = make_proposal(tenant=tenant_a, text='The author says: "three calls"')
    client = client_for(members_a[Role.EDITOR])
    page = client.get(url("learnings", tenant_a)).content.decode()
    assert f'id="accept-{proposal.pk}"' in page
    assert 'id="stats-authors"' in page
    client.post(
        url("learning_accept", tenant_a, proposal_id=proposal.pk), {"text": 'Say: "three onboarding calls"'}
    )
    with tenant_scope(tenant_a):
        memory = Memory.objects.get()
    assert (memory.text, memory.source) == ('Say: "three onboarding calls"', Memory.Source.EDIT)


def test_a_writer_cannot_accept_learnings(client_for, writer, tenant_a):
    proposal = make_proposal(tenant=tenant_a)
    assert (
        client_for(writer).post(url("learning_accept", tenant_a, proposal_id=proposal.pk)).status_code == 403
    )


def test_the_learnings_page_shows_review_stats(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a, name="Ana")
    make_draft(tenant=tenant_a, author=author, state=DraftState.APPROVED, edit_distance=0.5)
    make_draft(tenant=tenant_a, author=author, state=DraftState.APPROVED, edit_distance=0.0)
    make_draft(tenant=tenant_a, author=author, state=DraftState.REJECTED)
    page = client_for(members_a[Role.VIEWER]).get(url("learnings", tenant_a)).content.decode()
    assert "Ana" in page
    assert "33.3%" in page  # only the draft approved as written is a first pass, not the edited one
    assert "(1/3)" in page
    assert "0.25" in page  # the mean edit distance of the approved drafts, beside it


# ---- series ----------------------------------------------------------------------


def test_an_editor_creates_a_series_with_a_valid_schedule(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    data = {
        "name": "Monday lessons",
        "author": author.pk,
        "flow_name": "post",
        "brief": "A lesson",
        "is_active": "on",
    }
    bad = client.post(url("series_new", tenant_a), {**data, "cron": "every monday"})
    assert bad.status_code == 200
    assert "five fields" in bad.content.decode()
    response = client.post(url("series_new", tenant_a), {**data, "cron": "0 9 * * 1"})
    with tenant_scope(tenant_a):
        series = Series.objects.get()
    assert response.url == url("series", tenant_a, series_id=series.pk)
    assert PeriodicTask.objects.get(pk=series.periodic_task_id).enabled


def test_pausing_a_series_disables_its_schedule(client_for, members_a, tenant_a):
    series = make_series(tenant=tenant_a, cron="0 9 * * 1")
    client_for(members_a[Role.EDITOR]).post(url("series_toggle", tenant_a, series_id=series.pk))
    with tenant_scope(tenant_a):
        series.refresh_from_db()
    assert not series.is_active
    assert not PeriodicTask.objects.get(pk=series.periodic_task_id).enabled


def test_run_now_starts_the_series_flow_and_its_draft_shows_on_the_series_page(
    client_for, members_a, tenant_a, django_capture_on_commit_callbacks
):
    series = make_series(tenant=tenant_a)
    client = client_for(members_a[Role.WRITER])
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url("series_run", tenant_a, series_id=series.pk))
    with tenant_scope(tenant_a):
        run = FlowRun.objects.get(series=series)
    assert response.url == url("run", tenant_a, run_id=run.pk)
    make_draft(tenant=tenant_a, run=run, body="Series draft body")
    page = client.get(url("series", tenant_a, series_id=series.pk)).content.decode()
    assert "Series draft body" in page


def test_a_writer_cannot_edit_series(client_for, writer, tenant_a):
    series = make_series(tenant=tenant_a)
    assert client_for(writer).post(url("series_toggle", tenant_a, series_id=series.pk)).status_code == 403


def test_the_series_pages_and_dashboard_tiles_render(client_for, members_a, tenant_a):
    series = make_series(tenant=tenant_a)
    make_draft(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    listing = client.get(url("series_list", tenant_a)).content.decode()
    assert f'id="series-{series.pk}"' in listing
    assert client.get(url("series_new", tenant_a)).status_code == 200
    dashboard = client.get(
        reverse("tenants:dashboard", kwargs={"tenant_slug": tenant_a.slug})
    ).content.decode()
    assert 'id="tile-ready"' in dashboard
    assert 'id="nav-drafts"' in dashboard


# ---- what a reviewer sees: roles, refusals, bidi, phone, times ---------------------------------


def test_a_refusal_keeps_the_tenant_and_its_navigation_and_logs_no_traceback(
    client_for, members_a, tenant_a, caplog
):
    client = client_for(members_a[Role.VIEWER])
    with caplog.at_level("INFO"):
        response = client.get(url("flow_new", tenant_a))
    page = response.content.decode()
    assert response.status_code == 403
    assert 'id="forbidden"' in page
    assert 'id="nav-drafts"' in page  # the tenant's navigation is still there
    assert f"Back to {tenant_a.name}" in page
    assert "(viewer)" in page
    assert not [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in caplog.records if r.name == "tenants.views"] == [
        f"Forbidden: GET {url('flow_new', tenant_a)} for {members_a[Role.VIEWER].user.email} (role viewer)"
    ]


def test_a_viewer_sees_the_draft_text_but_no_form_to_change_it(client_for, members_a, tenant_a):
    draft = make_draft(tenant=tenant_a, body="Read only, please.")
    page = client_for(members_a[Role.VIEWER]).get(url("draft", tenant_a, draft_id=draft.pk)).content.decode()
    assert 'id="body-readonly"' in page
    assert "Read only, please." in page
    assert "<textarea" not in page
    assert 'id="assign-form"' not in page
    assert 'id="reject-form"' not in page


def test_bidi_controls_in_user_text_are_neutralised_in_the_queue_draft_and_run_pages(
    client_for, writer, tenant_a
):
    sneaky = "Approve \u202eevorppa\u202c this \u2066now\u2069\u200f"
    draft = make_draft(tenant=tenant_a, body=sneaky)
    with tenant_scope(tenant_a):
        FlowRun.objects.filter(pk=draft.run_id).update(brief=sneaky)
        Draft.objects.filter(pk=draft.pk).update(brief=sneaky)
    client = client_for(writer)
    pages = [
        client.get(url("drafts", tenant_a)).content.decode(),
        client.get(url("draft", tenant_a, draft_id=draft.pk)).content.decode(),
        client.get(url("run", tenant_a, run_id=draft.run_id)).content.decode(),
    ]
    for page in pages:
        assert not any(
            ch in page for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
        )
        assert "Approve \ufffdevorppa\ufffd this" in page


def test_the_queue_marks_state_and_holder_columns_the_phone_layout_keeps(client_for, writer, tenant_a):
    make_draft(tenant=tenant_a)
    page = client_for(writer).get(url("drafts", tenant_a)).content.decode()
    assert '<td class="col-state">' in page
    assert '<td class="col-holder">' in page
    assert "time datetime=" in page
    assert "data-since" in page


def test_a_finished_run_says_how_long_it_took_to_the_second(client_for, writer, tenant_a):
    draft = make_draft(tenant=tenant_a)
    now = timezone.now()
    with tenant_scope(tenant_a):
        FlowRun.objects.filter(pk=draft.run_id).update(
            started_at=now - timedelta(seconds=59), finished_at=now
        )
    page = client_for(writer).get(url("run", tenant_a, run_id=draft.run_id)).content.decode()
    assert '<span id="run-took">59 s</span>' in page
    assert '<span id="run-started"><time datetime=' in page


def test_a_viewer_who_opens_a_memory_form_is_told_their_role_instead_of_shown_it(
    client_for, members_a, tenant_a
):
    path = reverse("memories:add", kwargs={"tenant_slug": tenant_a.slug})
    page = client_for(members_a[Role.VIEWER]).get(path).content.decode()
    assert 'id="read-only-notice"' in page
    assert "(viewer)" in page
    assert 'method="post"' not in page.split('id="read-only-notice"')[0].split("<main")[1]
    editor_page = client_for(members_a[Role.EDITOR]).get(path).content.decode()
    assert 'id="read-only-notice"' not in editor_page
