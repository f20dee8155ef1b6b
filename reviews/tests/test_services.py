"""The review services: claims under concurrency, bulk approval, learning, stats and series."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from memories.models import Memory
from orchestrator import selectors
from orchestrator.flows.series import series_save
from orchestrator.models import Series
from orchestrator.tests.factories import make_author, make_definition, make_draft, make_proposal
from reviews import selectors as review_selectors
from reviews import services as reviews
from reviews.models import Draft, DraftState, LearningProposal
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def hashing_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


# ---- claims ----------------------------------------------------------------------


def _race_for(tenant, draft_id: int, users) -> list[str]:
    """Each user claims the draft in its own thread (own DB connection), released at the same moment."""
    barrier = threading.Barrier(len(users))
    outcomes: list[str] = []

    def claim(user) -> None:
        try:
            with tenant_scope(tenant):
                barrier.wait(timeout=10)
                reviews.draft_claim(draft_id=draft_id, user=user)
            outcomes.append(f"won:{user.pk}")
        except reviews.ReviewError as exc:
            outcomes.append(f"lost:{exc.messages[0]}")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_writers_claiming_one_draft_at_once_give_it_to_exactly_one(tenant_a):
    writers = [make_member(tenant=tenant_a, role=Role.WRITER).user for _ in range(2)]
    for _round in range(20):
        draft = make_draft(tenant=tenant_a)
        outcomes = _race_for(tenant_a, draft.pk, writers)
        winners = [o for o in outcomes if o.startswith("won")]
        assert len(outcomes) == 2
        assert len(winners) == 1, outcomes
        with tenant_scope(tenant_a):
            draft.refresh_from_db()
            claims = draft.transitions.filter(to_state=DraftState.IN_REVIEW).count()
        assert draft.state == DraftState.IN_REVIEW
        assert f"won:{draft.claimed_by_id}" == winners[0]
        assert claims == 1


def test_a_writer_cannot_claim_a_draft_another_writer_holds(tenant_a, members_a):
    draft = make_draft(tenant=tenant_a)
    other = make_member(tenant=tenant_a, role=Role.WRITER).user
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=draft.pk, user=members_a[Role.WRITER].user)
        with pytest.raises(reviews.ReviewError, match="is reviewing this draft"):
            reviews.draft_claim(draft_id=draft.pk, user=other)


def test_an_abandoned_claim_expires_and_the_draft_can_be_claimed_again(tenant_a, members_a):
    draft = make_draft(tenant=tenant_a)
    other = make_member(tenant=tenant_a, role=Role.WRITER).user
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=draft.pk, user=members_a[Role.WRITER].user)
        Draft.objects.filter(pk=draft.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
        claimed = reviews.draft_claim_next(user=other)
    assert claimed.pk == draft.pk
    assert claimed.claimed_by_id == other.pk


# ---- bulk approve ----------------------------------------------------------------------


def test_bulk_approve_approves_what_it_can_and_says_why_not_for_the_rest(tenant_a, members_a):
    me, other = members_a[Role.WRITER].user, members_a[Role.EDITOR].user
    free = [make_draft(tenant=tenant_a) for _ in range(2)]
    held = make_draft(tenant=tenant_a)
    rejected = make_draft(tenant=tenant_a, state=DraftState.REJECTED)
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=held.pk, user=other)
        failures = reviews.drafts_bulk_approve(
            draft_ids=[*(d.pk for d in free), held.pk, rejected.pk, 999_999], user=me
        )
        states = dict(Draft.objects.filter(pk__in=[d.pk for d in free]).values_list("pk", "state"))
    assert set(states.values()) == {DraftState.APPROVED}
    assert set(failures) == {held.pk, rejected.pk, 999_999}
    assert "is reviewing this draft" in failures[held.pk]
    assert "rejected cannot be approved" in failures[rejected.pk]


def test_approving_an_edited_draft_stores_its_edit_distance_and_proposes_learnings(tenant_a, members_a):
    user = members_a[Role.WRITER].user
    draft = make_draft(tenant=tenant_a, body="We made onboarding a true game changer for all our customers.")
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=draft.pk, user=user)
        approved = reviews.draft_approve(
            draft_id=draft.pk, user=user, body="We cut churn by 20 percent with three onboarding calls."
        )
        proposals = list(approved.learning_proposals.values_list("kind", flat=True))
    assert 0 < approved.edit_distance <= 1
    assert "key_phrase" in proposals
    assert "learning" in proposals


# ---- learning ----------------------------------------------------------------------


def test_accepting_a_learning_keeps_it_as_a_memory_of_the_author(tenant_a, members_a, hashing_embeddings):
    proposal = make_proposal(tenant=tenant_a, text='The author says: "three onboarding calls"')
    editor = members_a[Role.EDITOR].user
    with tenant_scope(tenant_a):
        reviews.learning_accept(proposal_id=proposal.pk, user=editor)
        memory = Memory.objects.get(author=proposal.author)
        proposal.refresh_from_db()
        with pytest.raises(reviews.ReviewError, match="already accepted"):
            reviews.learning_accept(proposal_id=proposal.pk, user=editor)
    assert memory.kind == Memory.Kind.KEY_PHRASE
    assert memory.source == Memory.Source.EDIT
    assert memory.source_ref == f"draft:{proposal.draft_id}"
    assert proposal.status == LearningProposal.Status.ACCEPTED
    assert proposal.decided_by == editor


def test_a_dismissed_learning_makes_no_memory(tenant_a, members_a):
    proposal = make_proposal(tenant=tenant_a)
    with tenant_scope(tenant_a):
        reviews.learning_dismiss(proposal_id=proposal.pk, user=members_a[Role.EDITOR].user)
        assert not Memory.objects.exists()
        proposal.refresh_from_db()
    assert proposal.status == LearningProposal.Status.DISMISSED


# ---- stats ----------------------------------------------------------------------


def test_stats_count_first_pass_approvals_and_mean_edit_distance_per_author(tenant_a, tenant_b):
    ana, bo = make_author(tenant=tenant_a, name="Ana"), make_author(tenant=tenant_a, name="Bo")
    make_draft(tenant=tenant_a, author=ana, state=DraftState.APPROVED, edit_distance=0.0)
    make_draft(tenant=tenant_a, author=ana, state=DraftState.DELIVERED, edit_distance=0.4, human_rounds=1)
    make_draft(tenant=tenant_a, author=ana, state=DraftState.REJECTED)
    make_draft(tenant=tenant_a, author=ana, state=DraftState.READY)  # not decided: not counted
    make_draft(tenant=tenant_a, author=bo, state=DraftState.APPROVED, edit_distance=0.1)
    make_draft(tenant=tenant_b, author=make_author(tenant=tenant_b, name="Ana"), state=DraftState.APPROVED)
    with tenant_scope(tenant_a):
        stats = {row.label: row for row in review_selectors.review_stats_by_author()}
    assert set(stats) == {"Ana", "Bo"}
    assert (stats["Ana"].decided, stats["Ana"].approved, stats["Ana"].first_pass) == (3, 2, 1)
    assert stats["Ana"].first_pass_rate == pytest.approx(1 / 3)
    assert stats["Ana"].mean_edit_distance == pytest.approx(0.2)
    assert (stats["Bo"].decided, stats["Bo"].first_pass_rate) == (1, 0.0)  # approved, but after an edit


def test_stats_per_prompt_version_group_drafts_by_the_version_that_wrote_them(tenant_a):
    make_draft(tenant=tenant_a, state=DraftState.APPROVED, edit_distance=0.5, prompt_version_id=None)
    make_draft(tenant=tenant_a, state=DraftState.REJECTED, prompt_version_id=None)
    with tenant_scope(tenant_a):
        [row] = review_selectors.review_stats_by_prompt_version()
    assert (row.label, row.decided, row.first_pass, row.mean_edit_distance) == (
        "no prompt version",
        2,
        0,  # approved after an edit (0.5): not a first pass
        0.5,
    )


def test_the_queue_of_one_tenant_never_shows_another_tenants_drafts(tenant_a, tenant_b):
    mine = make_draft(tenant=tenant_a)
    make_draft(tenant=tenant_b)
    with tenant_scope(tenant_a):
        assert [d.pk for d in review_selectors.drafts_queue()] == [mine.pk]
        assert selectors.work_counts()["ready"] == 1


# ---- series ----------------------------------------------------------------------


def test_saving_a_series_creates_then_updates_its_beat_schedule(tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    with tenant_scope(tenant_a):
        series = series_save(
            series=Series(name="Monday lessons", author=author, brief="A lesson", cron="0 9 * * 1")
        )
        task = PeriodicTask.objects.get(pk=series.periodic_task_id)
        assert (task.task, json.loads(task.args), task.enabled) == (
            "orchestrator.tasks.run_series",
            [tenant_a.pk, series.pk],
            True,
        )
        assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "9", "1")
        series.cron, series.is_active = "30 7 * * 5", False
        series_save(series=series)
        task.refresh_from_db()
    assert PeriodicTask.objects.filter(name__startswith=f"series-{tenant_a.pk}-").count() == 1
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week, task.enabled) == (
        "30",
        "7",
        "5",
        False,
    )


def test_a_series_with_a_bad_schedule_is_refused(tenant_a):
    author = make_author(tenant=tenant_a)
    five_fields = "Use five fields: minute hour day-of-month month day-of-week."
    with tenant_scope(tenant_a), pytest.raises(ValidationError, match=re.escape(five_fields)) as caught:
        series_save(series=Series(name="Bad", author=author, brief="x", cron="every monday"))
    assert caught.value.message_dict == {"cron": [five_fields]}


# ---- learnings are whole statements --------------------------------------------------------


def test_learnings_from_an_edit_are_whole_sentences_never_fragments(tenant_a, members_a):
    user = members_a[Role.WRITER].user
    draft = make_draft(
        tenant=tenant_a,
        body="Our CEO cares about the bigger meeting. They need results fast. Thanks for reading.",
    )
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=draft.pk, user=user)
        reviews.draft_approve(
            draft_id=draft.pk,
            user=user,
            body=(
                "Our CEO cares about one thing: the renewal call. They need results fast. Thanks for reading."
            ),
        )
        proposals = dict(LearningProposal.objects.filter(draft=draft).values_list("text", "kind"))
    assert proposals == {
        'The author writes sentences like: "Our CEO cares about one thing: the renewal call."': "key_phrase",
        'Avoid sentences like: "Our CEO cares about the bigger meeting."': "learning",
    }


def test_an_unchanged_draft_teaches_nothing_and_short_sentences_are_skipped(tenant_a, members_a):
    user = members_a[Role.WRITER].user
    draft = make_draft(tenant=tenant_a, body="Three onboarding calls cut churn. Hi.")
    with tenant_scope(tenant_a):
        reviews.draft_claim(draft_id=draft.pk, user=user)
        reviews.draft_approve(draft_id=draft.pk, user=user, body="Three onboarding calls cut churn. Hello.")
        assert not LearningProposal.objects.filter(draft=draft).exists()


def test_accepting_a_learning_refuses_a_fragment_and_closes_a_statement(
    tenant_a, members_a, hashing_embeddings
):
    editor = members_a[Role.EDITOR].user
    proposal = make_proposal(tenant=tenant_a)
    with tenant_scope(tenant_a):
        with pytest.raises(ValidationError, match="whole statement"):
            reviews.learning_accept(proposal_id=proposal.pk, user=editor, text="cares about,")
        reviews.learning_accept(proposal_id=proposal.pk, user=editor, text="Open with a customer's number")
        memory = Memory.objects.get(author=proposal.author)
    assert memory.text == "Open with a customer's number."
