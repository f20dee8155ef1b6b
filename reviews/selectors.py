"""Reads of the review queue: drafts, their history and diffs, learning proposals, review figures."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Avg, Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from authors.models import Author
from prompts.models import PromptVersion
from reviews.models import Draft, DraftState, LearningProposal

OPEN_STATES = [DraftState.GENERATING, DraftState.READY, DraftState.IN_REVIEW, DraftState.CHANGES_REQUESTED]


APPROVED_STATES = [DraftState.APPROVED, DraftState.DELIVERED]


DECIDED_STATES = [*APPROVED_STATES, DraftState.REJECTED]


def access_draft(*, draft_id: int) -> Draft:
    related = ("author", "run", "claimed_by", "assigned_to", "profile")
    return get_object_or_404(Draft.objects.select_related(*related), pk=draft_id)


def access_proposal(*, proposal_id: int) -> LearningProposal:
    return get_object_or_404(LearningProposal.objects.select_related("author", "draft"), pk=proposal_id)


AGE_FILTERS = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}


def drafts_queue(
    *, author: Author | None = None, flow: str = "", state: str = "", older_than: str = ""
) -> QuerySet[Draft]:
    """Drafts for the queue page, oldest first. `state` "" means every open state, "all" every state."""
    drafts = Draft.objects.select_related("author", "claimed_by", "assigned_to", "run")
    if state == "all":
        pass
    elif state:
        drafts = drafts.filter(state=state)
    else:
        drafts = drafts.filter(state__in=OPEN_STATES)
    if author is not None:
        drafts = drafts.filter(author=author)
    if flow:
        drafts = drafts.filter(flow_name=flow)
    if older_than in AGE_FILTERS:
        drafts = drafts.filter(created_at__lte=timezone.now() - AGE_FILTERS[older_than])
    return drafts.order_by("created_at")


def draft_history(*, draft: Draft) -> QuerySet:
    return draft.transitions.select_related("actor").order_by("created_at", "pk")


def claim_is_live(draft: Draft) -> bool:
    return bool(
        draft.state == DraftState.IN_REVIEW
        and draft.claimed_by_id
        and draft.claim_expires_at
        and draft.claim_expires_at > timezone.now()
    )


_TOKENS = re.compile(r"\s+|\S+")
# A segment is a sentence (ending in . ! ? or … and the space after it) or the rest of a line.
_SEGMENT = re.compile(r"[^\n]*?(?:[.!?\u2026]+[\"'\u201d\u2019)\]]*[ \t]+|\n|$)")
# Below this word similarity a changed sentence is shown as rewritten, not as interleaved word edits.
REWRITE_BELOW = 0.4


@dataclass(frozen=True)
class DiffPiece:
    op: str  # "same", "added" or "removed"
    text: str


@dataclass(frozen=True)
class DiffRow:
    """One sentence or line: the same on both sides, or what it was (before) and what it is (after)."""

    op: str  # "same", "changed", "removed" or "added"
    before: list[DiffPiece]
    after: list[DiffPiece]


def word_diff(original: str, final: str) -> list[DiffPiece]:
    """Word-level diff of what the model wrote against the current text (whitespace kept)."""
    before, after = _TOKENS.findall(original or ""), _TOKENS.findall(final or "")
    pieces: list[DiffPiece] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(DiffPiece("same", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(DiffPiece("removed", "".join(before[i1:i2])))
        if j2 > j1:
            pieces.append(DiffPiece("added", "".join(after[j1:j2])))
    return pieces


def split_segments(text: str) -> list[str]:
    """Sentences and lines, each keeping the whitespace after it, so joining them gives `text` back."""
    return [segment for segment in _SEGMENT.findall(text or "") if segment]


def _changed_row(before: str, after: str) -> DiffRow:
    words = difflib.SequenceMatcher(None, before.split(), after.split(), autojunk=False)
    if words.ratio() < REWRITE_BELOW:
        return DiffRow("changed", [DiffPiece("removed", before)], [DiffPiece("added", after)])
    pieces = word_diff(before, after)
    return DiffRow(
        "changed",
        [p for p in pieces if p.op != "added"],
        [p for p in pieces if p.op != "removed"],
    )


def sentence_diff(original: str, final: str) -> list[DiffRow]:
    """The model's text against the current one, sentence by sentence, with word detail inside
    a changed sentence (a sentence rewritten beyond recognition is shown whole on each side)."""
    before, after = split_segments(original), split_segments(final)
    matcher = difflib.SequenceMatcher(
        None, [s.strip() for s in before], [s.strip() for s in after], autojunk=False
    )
    rows: list[DiffRow] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows += [DiffRow("same", [DiffPiece("same", s)], [DiffPiece("same", s)]) for s in after[j1:j2]]
            continue
        old, new = before[i1:i2], after[j1:j2]
        for k in range(max(len(old), len(new))):
            if k < len(old) and k < len(new):
                rows.append(_changed_row(old[k], new[k]))
            elif k < len(old):
                rows.append(DiffRow("removed", [DiffPiece("removed", old[k])], []))
            else:
                rows.append(DiffRow("added", [], [DiffPiece("added", new[k])]))
    return [row for row in rows if "".join(p.text for p in row.before + row.after).strip()]


def learning_proposals(*, status: str = LearningProposal.Status.PROPOSED, author: Author | None = None):
    proposals = LearningProposal.objects.select_related("author", "draft", "decided_by")
    if status:
        proposals = proposals.filter(status=status)
    if author is not None:
        proposals = proposals.filter(author=author)
    return proposals.order_by("-created_at")


@dataclass(frozen=True)
class ReviewStats:
    key: int | None
    label: str
    decided: int
    approved: int
    first_pass: int
    mean_edit_distance: float | None

    @property
    def first_pass_rate(self) -> float | None:
        """Share of decided drafts approved as the model wrote them: no edit, no "changes requested"."""
        return self.first_pass / self.decided if self.decided else None


def _review_stats(group_by: str) -> list[dict]:
    approved = Q(state__in=APPROVED_STATES)
    return list(
        Draft.objects.filter(state__in=DECIDED_STATES)
        .values(group_by)
        .annotate(
            decided=Count("id"),
            approved=Count("id", filter=approved),
            first_pass=Count("id", filter=approved & Q(human_rounds=0, edit_distance=0)),
            mean_edit_distance=Avg("edit_distance", filter=approved),
        )
        .order_by(group_by)
    )


def _stats(row: dict, key: int | None, label: str) -> ReviewStats:
    mean = row["mean_edit_distance"]
    return ReviewStats(
        key=key,
        label=label,
        decided=row["decided"],
        approved=row["approved"],
        first_pass=row["first_pass"],
        mean_edit_distance=round(mean, 4) if mean is not None else None,
    )


def review_stats_by_author() -> list[ReviewStats]:
    rows = _review_stats("author_id")
    names = dict(Author.objects.filter(pk__in=[r["author_id"] for r in rows]).values_list("pk", "name"))
    return [_stats(r, r["author_id"], names.get(r["author_id"], "?")) for r in rows]


def _version_labels(ids: list[int]) -> dict[int, str]:
    """ "Post · default v1", with whose template it is when a tenant and Maestro share a name."""
    versions = PromptVersion.objects.filter(pk__in=ids).select_related("template")
    labels = {
        v.pk: f"{v.template.get_purpose_display()} · {v.template.name} v{v.number}"
        + (" (Maestro's)" if v.template.tenant_id is None else "")
        for v in versions
    }
    seen = Counter(labels.values())
    return {pk: f"{label} #{pk}" if seen[label] > 1 else label for pk, label in labels.items()}


def review_stats_by_prompt_version() -> list[ReviewStats]:
    rows = _review_stats("prompt_version_id")
    labels = _version_labels([r["prompt_version_id"] for r in rows if r["prompt_version_id"]])
    return [
        _stats(r, r["prompt_version_id"], labels.get(r["prompt_version_id"], "no prompt version"))
        for r in rows
    ]
