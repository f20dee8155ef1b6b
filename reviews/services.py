"""The human review queue: draft states, claims with a lease, edits, decisions, and what they teach.

    generating -> ready -> in_review -> approved -> delivered
                                     -> rejected
                                     -> changes_requested -> (revise step reruns) -> ready

Every transition is recorded (who, when, why). A claim is taken with
SELECT ... FOR UPDATE SKIP LOCKED and a lease, so two writers never hold the same
draft and an abandoned claim frees itself when its lease runs out.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from memories.models import Memory
from memories.services import memory_add
from prompts.models import PromptVersion
from prompts.services import prompt_outcome_record
from reviews.models import Draft, DraftState, DraftTransition, LearningProposal
from reviews.selectors import split_segments
from tenants.models import User
from webhooks.services import DRAFT_EVENTS, webhook_event_emit

CLAIM_LEASE = timedelta(minutes=15)

ALLOWED: dict[str, set[str]] = {
    DraftState.GENERATING: {DraftState.READY},
    DraftState.READY: {DraftState.IN_REVIEW, DraftState.APPROVED, DraftState.REJECTED},
    DraftState.IN_REVIEW: {
        DraftState.READY,
        DraftState.APPROVED,
        DraftState.REJECTED,
        DraftState.CHANGES_REQUESTED,
    },
    DraftState.CHANGES_REQUESTED: {DraftState.READY, DraftState.REJECTED},
    DraftState.APPROVED: {DraftState.DELIVERED},
    DraftState.REJECTED: set(),
    DraftState.DELIVERED: set(),
}


class ReviewError(ValidationError):
    """A review action that is not possible now; the message says why."""


def transition(draft: Draft, to_state: str, *, actor: User | None, reason: str = "") -> Draft:
    if to_state not in ALLOWED[draft.state]:
        raise ReviewError(f"A draft that is {draft.get_state_display().lower()} cannot become {to_state}.")
    from_state = draft.state
    draft.state = to_state
    if to_state not in (DraftState.IN_REVIEW,):
        draft.claimed_by, draft.claim_expires_at = None, None
    if to_state in (DraftState.APPROVED, DraftState.REJECTED):
        draft.decided_at = timezone.now()
    draft.save(update_fields=["state", "claimed_by", "claim_expires_at", "decided_at", "updated_at"])
    DraftTransition.objects.create(
        draft=draft, from_state=from_state, to_state=to_state, actor=actor, reason=reason
    )
    # draft.ready / approved / rejected webhooks: recorded here, sent when the transaction commits.
    _emit_transition(draft, from_state=from_state, actor=actor, reason=reason)
    return draft


def _emit_transition(draft: Draft, *, from_state: str, actor: User | None, reason: str) -> None:
    """The webhook of a transition carries the draft's text and what a CRM files it under."""
    event = DRAFT_EVENTS.get(draft.state)
    if event is None:
        return
    data = {
        "draft_id": draft.pk,
        "author_id": draft.author_id,
        "author_name": draft.author.name,
        "flow_name": draft.flow_name,
        "state": draft.state,
        "previous_state": from_state,
        "actor_id": actor.pk if actor else None,
        "text": draft.body,
        "brief": draft.brief,
        "prompt_version_id": draft.prompt_version_id,
        "experiment_id": draft.experiment_id,
        "variant": draft.variant,
        "edit_distance": draft.edit_distance,
        "decided_at": draft.decided_at.isoformat() if draft.decided_at else None,
    }
    if draft.state == DraftState.REJECTED:
        data["reason"] = reason
    webhook_event_emit(tenant=draft.tenant, event=event, data=data)


def _claim_is_live(draft: Draft, now) -> bool:
    return (
        draft.claimed_by_id is not None
        and draft.claim_expires_at is not None
        and draft.claim_expires_at > now
    )


@transaction.atomic
def draft_claim(*, draft_id: int, user: User) -> Draft:
    """Take a draft for review. Exactly one of several writers racing for it wins."""
    now = timezone.now()
    draft = Draft.objects.select_for_update(skip_locked=True).filter(pk=draft_id).first()
    if draft is None:
        raise ReviewError("Someone else is taking this draft right now.")
    if draft.state == DraftState.IN_REVIEW and _claim_is_live(draft, now) and draft.claimed_by_id != user.pk:
        raise ReviewError(
            f"{draft.claimed_by} is reviewing this draft (until {draft.claim_expires_at:%H:%M} UTC)."
        )
    if draft.assigned_to_id and draft.assigned_to_id != user.pk:
        raise ReviewError(f"This draft is assigned to {draft.assigned_to}.")
    if draft.state == DraftState.READY:
        transition(draft, DraftState.IN_REVIEW, actor=user, reason="claimed")
    elif draft.state != DraftState.IN_REVIEW:
        raise ReviewError(f"A draft that is {draft.get_state_display().lower()} cannot be claimed.")
    draft.claimed_by, draft.claim_expires_at = user, now + CLAIM_LEASE
    draft.save(update_fields=["claimed_by", "claim_expires_at", "updated_at"])
    return draft


@transaction.atomic
def draft_claim_next(*, user: User, author_id: int | None = None) -> Draft | None:
    """The oldest draft ready for review (or whose claim lapsed), claimed for `user`."""
    now = timezone.now()
    queue = Draft.objects.select_for_update(skip_locked=True).filter(
        Q(state=DraftState.READY) | Q(state=DraftState.IN_REVIEW, claim_expires_at__lt=now),
        Q(assigned_to__isnull=True) | Q(assigned_to=user),
    )
    if author_id:
        queue = queue.filter(author_id=author_id)
    draft = queue.order_by("created_at").first()
    if draft is None:
        return None
    return draft_claim(draft_id=draft.pk, user=user)


def _locked_claimed_by(draft_id: int, user: User) -> Draft:
    draft = Draft.objects.select_for_update().get(pk=draft_id)
    now = timezone.now()
    if (
        draft.state != DraftState.IN_REVIEW
        or not _claim_is_live(draft, now)
        or draft.claimed_by_id != user.pk
    ):
        raise ReviewError("Claim this draft first: it is not in review by you (or your claim expired).")
    return draft


@transaction.atomic
def draft_release(*, draft_id: int, user: User) -> Draft:
    draft = _locked_claimed_by(draft_id, user)
    return transition(draft, DraftState.READY, actor=user, reason="released")


@transaction.atomic
def draft_edit(*, draft_id: int, user: User, body: str) -> Draft:
    body = body.strip()
    if not body:
        raise ReviewError("A draft cannot be empty.")
    draft = _locked_claimed_by(draft_id, user)
    draft.body = body
    draft.claim_expires_at = timezone.now() + CLAIM_LEASE  # editing keeps the claim alive
    draft.save(update_fields=["body", "claim_expires_at", "updated_at"])
    return draft


def edit_distance(original: str, final: str) -> float:
    """0 when approved as written, 1 when nothing of the original survived (word-level)."""
    if original == final:
        return 0.0
    return round(1 - difflib.SequenceMatcher(None, original.split(), final.split()).ratio(), 4)


@transaction.atomic
def draft_approve(*, draft_id: int, user: User, body: str | None = None) -> Draft:
    draft = _locked_claimed_by(draft_id, user) if body is not None else _approvable(draft_id, user)
    if body is not None and body.strip():
        draft.body = body.strip()
        draft.save(update_fields=["body", "updated_at"])
    draft.edit_distance = edit_distance(draft.original_body, draft.body)
    draft.save(update_fields=["edit_distance"])
    before = {"state": draft.state}
    transition(draft, DraftState.APPROVED, actor=user, reason="approved")
    record(action="draft.approved", target=draft, actor=user, before=before, after={"state": draft.state})
    _record_outcome(draft, approved=True)
    propose_learnings(draft)
    return draft


def _approvable(draft_id: int, user: User) -> Draft:
    draft = Draft.objects.select_for_update().get(pk=draft_id)
    if (
        draft.state == DraftState.IN_REVIEW
        and _claim_is_live(draft, timezone.now())
        and draft.claimed_by_id != user.pk
    ):
        raise ReviewError(f"{draft.claimed_by} is reviewing this draft.")
    if draft.state not in (DraftState.READY, DraftState.IN_REVIEW):
        raise ReviewError(f"A draft that is {draft.get_state_display().lower()} cannot be approved.")
    return draft


@transaction.atomic
def draft_reject(*, draft_id: int, user: User, reason: str) -> Draft:
    if not reason.strip():
        raise ReviewError("Say why the draft is rejected: the reason teaches the next drafts.")
    draft = _approvable(draft_id, user)
    before = {"state": draft.state}
    transition(draft, DraftState.REJECTED, actor=user, reason=reason.strip())
    record(action="draft.rejected", target=draft, actor=user, before=before, after={"state": draft.state})
    _record_outcome(draft, approved=False)
    LearningProposal.objects.create(draft=draft, author=draft.author, kind="feedback", text=reason.strip())
    return draft


@transaction.atomic
def draft_request_changes(*, draft_id: int, user: User, instructions: str) -> Draft:
    """Record the reviewer's instructions and send the draft back (state `changes_requested`).

    The revision itself is the flows' business: `orchestrator.flows.services.draft_revise`
    calls this and then enqueues the revise step.
    """
    if not instructions.strip():
        raise ReviewError("Write what should change.")
    draft = _locked_claimed_by(draft_id, user)
    before = {"state": draft.state}
    transition(draft, DraftState.CHANGES_REQUESTED, actor=user, reason=instructions.strip())
    after = {"state": draft.state}
    record(action="draft.changes_requested", target=draft, actor=user, before=before, after=after)
    draft.human_rounds += 1
    draft.save(update_fields=["human_rounds"])
    return draft


@transaction.atomic
def draft_assign(*, draft_id: int, assignee: User | None, actor: User) -> Draft:
    draft = Draft.objects.select_for_update().get(pk=draft_id)
    draft.assigned_to = assignee
    draft.save(update_fields=["assigned_to", "updated_at"])
    DraftTransition.objects.create(
        draft=draft,
        from_state=draft.state,
        to_state=draft.state,
        actor=actor,
        reason=f"assigned to {assignee}" if assignee else "unassigned",
    )
    return draft


@transaction.atomic
def draft_deliver(*, draft_id: int, user: User | None) -> Draft:
    draft = Draft.objects.select_for_update().get(pk=draft_id)
    return transition(draft, DraftState.DELIVERED, actor=user, reason="delivered")


def _record_outcome(draft: Draft, *, approved: bool) -> None:
    if not draft.prompt_version_id:
        return
    version = PromptVersion.objects.filter(pk=draft.prompt_version_id).first()
    if version is not None:
        prompt_outcome_record(
            version=version,
            approved=approved,
            edit_distance=draft.edit_distance if approved else None,
            cost_micros=draft.cost_micros,
            experiment_id=draft.experiment_id,
        )


MAX_PROPOSALS_EACH = 3
_SENTENCE_END = re.compile(r"[.!?\u2026\"'\u201d\u2019)\]]$")  # a sentence, or a quotation, is closed


def _whole_sentences(text: str) -> list[str]:
    """The sentences and lines of `text` worth learning from: at least four words, whitespace tidied."""
    sentences = (" ".join(s.split()) for s in split_segments(text))
    return [s for s in sentences if len(s.split()) >= 4]


def _as_statement(sentence: str) -> str:
    return sentence if _SENTENCE_END.search(sentence) else f"{sentence}."


def propose_learnings(draft: Draft) -> list[LearningProposal]:
    """From the reviewer's edit, whole sentences: ones they wrote (say it like this) and ones they
    struck (avoid this). A sentence is compared as a whole, so a proposal is never a fragment."""
    if not draft.original_body or draft.original_body == draft.body:
        return []
    before, after = _whole_sentences(draft.original_body), _whole_sentences(draft.body)
    kept_before, kept_after = set(before), set(after)
    added = [s for s in after if s not in kept_before]
    removed = [s for s in before if s not in kept_after]

    def proposal(kind: str, text: str) -> LearningProposal:
        return LearningProposal(
            tenant_id=draft.tenant_id, draft=draft, author=draft.author, kind=kind, text=text
        )

    proposals = [
        proposal("key_phrase", f'The author writes sentences like: "{_as_statement(s)}"')
        for s in added[:MAX_PROPOSALS_EACH]
    ] + [
        proposal("learning", f'Avoid sentences like: "{_as_statement(s)}"')
        for s in removed[:MAX_PROPOSALS_EACH]
    ]
    return LearningProposal.objects.bulk_create(proposals)


def drafts_bulk_approve(*, draft_ids: list[int], user: User) -> dict[int, str]:
    """Approve each draft on its own (one failure does not undo the others); returns {id: why not}."""
    failures: dict[int, str] = {}
    for draft_id in draft_ids:
        try:
            draft_approve(draft_id=draft_id, user=user)
        except Draft.DoesNotExist:
            failures[draft_id] = "No such draft."
        except ValidationError as exc:
            failures[draft_id] = " ".join(exc.messages)
    return failures


@transaction.atomic
def learning_accept(*, proposal_id: int, user: User, text: str | None = None) -> LearningProposal:
    """Keep what an edit taught as a memory of the author (merged into a near-identical one)."""
    proposal = LearningProposal.objects.select_for_update().select_related("author").get(pk=proposal_id)
    if proposal.status != LearningProposal.Status.PROPOSED:
        raise ReviewError(f"This proposal was already {proposal.get_status_display().lower()}.")
    if text is not None and text.strip():
        proposal.text = text.strip()
    proposal.text = _as_statement(" ".join(proposal.text.split()))
    if len(proposal.text.split()) < 3:
        raise ReviewError("Write the learning as a whole statement (a sentence of a few words).")
    kind = proposal.kind if proposal.kind in Memory.Kind.values else Memory.Kind.LEARNING
    memory_add(
        author=proposal.author,
        kind=kind,
        text=proposal.text,
        source=Memory.Source.EDIT,
        created_by=user,
        source_ref=f"draft:{proposal.draft_id}",
    )
    proposal.status, proposal.decided_by = LearningProposal.Status.ACCEPTED, user
    proposal.save(update_fields=["text", "status", "decided_by"])
    return proposal


@transaction.atomic
def learning_dismiss(*, proposal_id: int, user: User) -> LearningProposal:
    proposal = LearningProposal.objects.select_for_update().get(pk=proposal_id)
    if proposal.status != LearningProposal.Status.PROPOSED:
        raise ReviewError(f"This proposal was already {proposal.get_status_display().lower()}.")
    proposal.status, proposal.decided_by = LearningProposal.Status.DISMISSED, user
    proposal.save(update_fields=["status", "decided_by"])
    return proposal
