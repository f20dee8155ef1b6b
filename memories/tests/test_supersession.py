"""Memories that stay true: contradictions flagged on write, supersession, history, the relevance floor."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from memories.models import Memory, MemoryConflict
from memories.selectors import memories_list, pending_conflicts, retrieve_memories
from memories.services import MemoryStateError, memory_add, memory_keep_both, memory_supersede, memory_update
from memories.tests.factories import make_author
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _add(author, text, **fields):
    fields.setdefault("kind", Memory.Kind.FACT)
    return memory_add(author=author, text=text, **fields)


def _retrieved(author, query, **options):
    return [found.memory.pk for found in retrieve_memories(author=author, query=query, **options)]


def test_a_new_value_for_the_same_subject_is_flagged_and_only_the_newer_is_retrieved_until_decided(
    in_tenant_a, author_a
):
    old = _add(author_a, "The company has 120 employees.").memory
    result = _add(author_a, "The company has 150 employees.")
    assert not result.merged
    assert result.contradicts == (old,)
    [conflict] = pending_conflicts(author=author_a)
    assert (conflict.memory, conflict.contradicts, conflict.status) == (result.memory, old, "pending")
    assert set(memories_list(author=author_a)) == {old, result.memory}  # both still valid
    # A flow reads the newer statement only; history shows both.
    assert _retrieved(author_a, "how many employees") == [result.memory.pk]
    assert set(_retrieved(author_a, "how many employees", history=True)) == {old.pk, result.memory.pk}


def test_superseding_ends_the_old_memory_links_it_and_retrieval_forgets_it(in_tenant_a, author_a, members_a):
    old = _add(author_a, "The company has 120 employees.").memory
    new = _add(author_a, "The company has 150 employees.").memory
    editor = members_a["editor"].user
    memory_supersede(memory=old, successor=new, actor=editor)
    old.refresh_from_db()
    assert old.valid_until is not None
    assert old.superseded_by == new
    conflict = MemoryConflict.objects.get()
    assert (conflict.status, conflict.resolved_by) == (MemoryConflict.Status.SUPERSEDED, editor)
    assert _retrieved(author_a, "how many employees") == [new.pk]
    assert set(_retrieved(author_a, "how many employees", history=True)) == {old.pk, new.pk}
    (event,) = AuditEvent.objects.filter(action="memory.superseded")
    assert (event.actor_user_id, event.target_id, event.after["superseded_by"]) == (
        editor.pk,
        str(old.pk),
        new.pk,
    )


def test_keeping_both_closes_the_conflict_and_keeps_both_valid(in_tenant_a, author_a):
    old = _add(author_a, "Post on Tuesdays.").memory
    new = _add(author_a, "Post on Thursdays.").memory
    conflict = memory_keep_both(memory=new, other=old)
    assert conflict.status == MemoryConflict.Status.KEPT
    (event,) = AuditEvent.objects.filter(action="memory.kept_both")
    assert (event.target_id, event.after) == (str(new.pk), {"contradicts": old.pk})
    assert not pending_conflicts().exists()
    assert set(_retrieved(author_a, "which day to post")) == {old.pk, new.pk}
    with pytest.raises(MemoryStateError, match="no pending contradiction"):
        memory_keep_both(memory=new, other=old)


def test_the_same_duration_said_twice_differently_is_merged_not_kept_twice(in_tenant_a, author_a):
    first = _add(author_a, "The CTO joined the company two years earlier.").memory
    result = _add(author_a, "The CTO joined the company 2 years before.")
    assert result.merged
    assert result.memory.pk == first.pk
    assert Memory.objects.count() == 1
    assert not MemoryConflict.objects.exists()


def test_the_same_number_in_words_and_digits_is_merged_in_portuguese(tenant_a, local_embedder):
    author = make_author(tenant=tenant_a, name="Joana Reis", language="pt-BR")
    with tenant_scope(tenant_a):
        first = _add(author, "A empresa tem cento e vinte funcionários.").memory
        result = _add(author, "A empresa tem 120 funcionários.")
        assert result.merged
        assert result.memory.pk == first.pk
        contradiction = _add(author, "A empresa tem 150 funcionários.")
        assert contradiction.contradicts == (first,)


def test_a_changed_fact_is_not_merged_and_a_new_subject_is_not_flagged(in_tenant_a, author_a):
    _add(author_a, "Keep posts under 200 words.")
    changed = _add(author_a, "Keep posts under 300 words.")
    other_subject = _add(author_a, "The newsletter goes out on Fridays.")
    assert not changed.merged
    assert changed.contradicts
    assert not other_subject.merged
    assert other_subject.contradicts == ()


def test_supersession_is_refused_when_it_makes_no_sense(in_tenant_a, author_a, tenant_a):
    old = _add(author_a, "The company has 120 employees.").memory
    new = _add(author_a, "The company has 150 employees.").memory
    someone_else = _add(
        make_author(tenant=tenant_a, name="Other Author"), "The company has 90 employees."
    ).memory
    with pytest.raises(ValidationError, match="cannot supersede itself"):
        memory_supersede(memory=old, successor=old)
    with pytest.raises(ValidationError, match="same author"):
        memory_supersede(memory=old, successor=someone_else)
    memory_supersede(memory=old, successor=new)
    with pytest.raises(MemoryStateError, match="already superseded"):
        memory_supersede(memory=old, successor=new)
    with pytest.raises(MemoryStateError, match="successor is not valid"):
        memory_supersede(memory=new, successor=old)
    old.refresh_from_db()
    assert old.superseded_by == new  # nothing changed by the refusals


def test_memories_of_another_tenant_are_never_compared(tenant_a, tenant_b, author_a, author_b):
    with tenant_scope(tenant_b):
        _add(author_b, "The company has 120 employees.")
    with tenant_scope(tenant_a):
        result = _add(author_a, "The company has 150 employees.")
        assert result.contradicts == ()
        assert not MemoryConflict.objects.exists()


def test_search_cuts_memories_below_the_relevance_floor(in_tenant_a, author_a):
    relevant = _add(author_a, "The Zephyr launch moved to the spring.").memory
    _add(author_a, "Mention the customer advisory board when relevant.")
    _add(author_a, "Keep sentences short and concrete.")
    results = retrieve_memories(author=author_a, query="Zephyr launch date")
    assert [found.memory.pk for found in results] == [relevant.pk]
    assert all(found.relevance >= 0.05 for found in results)
    # The floor is the caller's to lower: without it an unrelated memory comes back, after the relevant
    # one (one with no similarity at all, relevance 0, never does).
    unfloored = retrieve_memories(author=author_a, query="Zephyr launch date", min_relevance=0.0)
    assert unfloored[0].memory.pk == relevant.pk
    assert len(unfloored) > 1
    assert all(found.relevance > 0 for found in unfloored)


def test_the_relevance_floor_is_a_setting(in_tenant_a, author_a, settings):
    _add(author_a, "The Zephyr launch moved to the spring.")
    settings.MAESTRO_MEMORY_RELEVANCE_FLOOR = 0.99
    assert retrieve_memories(author=author_a, query="Zephyr launch date") == []


def test_an_edit_that_now_contradicts_a_memory_is_flagged_once(in_tenant_a, author_a):
    employees = _add(author_a, "The company has 120 employees.").memory
    edited = _add(author_a, "Keep posts under 200 words.").memory
    memory_update(memory=edited, text="The company has 150 employees.")
    [conflict] = pending_conflicts(author=author_a)
    assert (conflict.memory, conflict.contradicts) == (edited, employees)
    memory_keep_both(memory=edited, other=employees)
    memory_update(memory=edited, text="The company has 170 employees.")
    assert not pending_conflicts().exists()  # decided once, stays decided
    assert MemoryConflict.objects.count() == 1
