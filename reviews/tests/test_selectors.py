"""Reads of the review queue: the sentence diff a reviewer reads, figures labelled to be told apart."""

from __future__ import annotations

import pytest

from orchestrator.tests.factories import make_draft
from prompts.models import PromptVersion
from prompts.tests.factories import make_template
from reviews import selectors as review_selectors
from reviews.models import DraftState
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _text(pieces) -> str:
    return "".join(p.text for p in pieces)


def test_segments_are_sentences_and_lines_that_join_back_to_the_text():
    text = "We grew 3.5x. Why? Calls!\nA new line\n\nLast one"
    segments = review_selectors.split_segments(text)
    assert segments == ["We grew 3.5x. ", "Why? ", "Calls!\n", "A new line\n", "\n", "Last one"]
    assert "".join(segments) == text


def test_an_untouched_sentence_is_one_row_and_a_tweaked_one_shows_word_detail_on_each_side():
    rows = review_selectors.sentence_diff(
        "Onboarding matters. We made three calls a week.", "Onboarding matters. We made five calls a week."
    )
    assert [row.op for row in rows] == ["same", "changed"]
    changed = rows[1]
    assert [(p.op, p.text) for p in changed.before if p.op != "same"] == [("removed", "three")]
    assert [(p.op, p.text) for p in changed.after if p.op != "same"] == [("added", "five")]
    assert _text(changed.before) == "We made three calls a week."
    assert _text(changed.after) == "We made five calls a week."  # spaces kept on both sides


def test_a_rewritten_sentence_is_shown_whole_on_each_side_not_interleaved_word_by_word():
    rows = review_selectors.sentence_diff(
        "Most of our posts were about features.", "We stopped doing that entirely last spring."
    )
    [row] = rows
    assert row.op == "changed"
    assert [(p.op, p.text) for p in row.before] == [("removed", "Most of our posts were about features.")]
    assert [(p.op, p.text) for p in row.after] == [("added", "We stopped doing that entirely last spring.")]


def test_added_and_removed_sentences_have_one_side_only():
    rows = review_selectors.sentence_diff("Keep this. Drop this one.", "Keep this. ")
    assert [(row.op, _text(row.before), _text(row.after)) for row in rows] == [
        ("same", "Keep this. ", "Keep this. "),
        ("removed", "Drop this one.", ""),
    ]
    rows = review_selectors.sentence_diff("Keep this.", "Keep this.\nAnd a new line.")
    assert [(row.op, _text(row.after)) for row in rows][-1] == ("added", "And a new line.")


def test_first_pass_counts_only_drafts_approved_as_written(tenant_a):
    make_draft(tenant=tenant_a, state=DraftState.APPROVED, edit_distance=0.0)
    make_draft(tenant=tenant_a, state=DraftState.APPROVED, edit_distance=0.98)  # a rewrite
    make_draft(tenant=tenant_a, state=DraftState.APPROVED, edit_distance=0.0, human_rounds=1)
    with tenant_scope(tenant_a):
        [row] = review_selectors.review_stats_by_prompt_version()
    assert (row.decided, row.approved, row.first_pass) == (3, 3, 1)
    assert row.mean_edit_distance == pytest.approx(0.98 / 3, abs=1e-4)


def test_prompt_rows_named_alike_get_labels_that_tell_them_apart(tenant_a, tenant_b):
    post = make_template(tenant=tenant_a, purpose="post", name="default")
    critique = make_template(tenant=tenant_a, purpose="critique", name="default")
    make_template(tenant=tenant_b, purpose="post", name="default")
    with tenant_scope(tenant_a):
        for template in (post, critique):
            version = PromptVersion.objects.get(template=template)
            make_draft(
                tenant=tenant_a, state=DraftState.APPROVED, edit_distance=0.0, prompt_version_id=version.pk
            )
        labels = [row.label for row in review_selectors.review_stats_by_prompt_version()]
    assert sorted(labels) == ["Critique · default v1", "Post · default v1"]
