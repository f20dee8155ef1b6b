from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from memories.models import Memory
from memories.services import memory_add, memory_expire, memory_update
from memories.tests.factories import make_author
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db

PARAPHRASES = [
    (
        "Our customers cut onboarding time by 40% after switching to Acme Flow.",
        "After moving to Acme Flow, customers reduced onboarding time by 40 percent.",
    ),
    (
        "The CEO founded the company in 2014 in Lisbon.",
        "The company was founded in Lisbon in 2014 by the CEO.",
    ),
    ("Never use the word 'synergy' in posts.", "Avoid the word synergy in posts."),
]
DIFFERENT_FACTS = [
    ("The CEO founded the company in 2014 in Lisbon.", "The CTO joined the company in 2019 from Berlin."),
    ("The company has 120 employees.", "The company has 150 employees."),
    ("Post on Tuesdays at 9am.", "Post on Thursdays at 9am."),
    ("Use emojis in posts.", "Never use emojis in posts."),
    ("Sarah's favourite product is Acme Flow.", "Sarah's favourite product is Acme Desk."),
]


def _add(author, text, **fields):
    fields.setdefault("kind", Memory.Kind.FACT)
    return memory_add(author=author, text=text, **fields)


@pytest.mark.parametrize(("first", "second"), PARAPHRASES)
def test_a_paraphrase_of_a_memory_is_merged_into_it(in_tenant_a, author_a, first, second):
    original = _add(author_a, first).memory
    result = _add(author_a, second)
    assert result.merged
    assert result.memory.pk == original.pk
    assert Memory.objects.count() == 1
    assert result.memory.merge_count == 1
    assert result.memory.last_merged_at is not None


@pytest.mark.parametrize(("first", "second"), DIFFERENT_FACTS)
def test_a_different_fact_is_kept_beside_a_similar_one(in_tenant_a, author_a, first, second):
    _add(author_a, first)
    result = _add(author_a, second)
    assert not result.merged
    assert Memory.objects.count() == 2


def test_merging_keeps_the_richer_text_and_the_higher_importance(in_tenant_a, author_a):
    _add(author_a, "Keep posts under 200 words.", importance=2)
    result = _add(author_a, "Posts should always be kept under 200 words.", importance=4)
    assert result.merged
    assert result.memory.text == "Posts should always be kept under 200 words."
    assert result.memory.importance == 4


def test_near_duplicates_of_another_kind_or_author_are_not_merged(in_tenant_a, author_a, tenant_a):
    other_author = make_author(tenant=tenant_a, name="Other Author")
    _add(author_a, "Keep posts under 200 words.", kind=Memory.Kind.LEARNING)
    assert not _add(author_a, "Keep posts under 200 words.", kind=Memory.Kind.FEEDBACK).merged
    assert not _add(other_author, "Keep posts under 200 words.", kind=Memory.Kind.LEARNING).merged


def test_an_expired_memory_is_not_a_merge_target(in_tenant_a, author_a):
    old = _add(author_a, "Keep posts under 200 words.").memory
    memory_expire(memory=old)
    assert not _add(author_a, "Keep posts under 200 words.").merged


def test_a_memory_of_another_tenant_is_never_a_merge_target(tenant_a, tenant_b, author_a, author_b):
    with tenant_scope(tenant_b):
        _add(author_b, "Keep posts under 200 words.")
    with tenant_scope(tenant_a):
        assert not _add(author_a, "Keep posts under 200 words.").merged
        assert Memory.objects.count() == 1


def test_changing_the_text_embeds_it_again(in_tenant_a, author_a, local_embedder):
    memory = _add(author_a, "Keep posts under 200 words.").memory
    memory_update(memory=memory, text="Customers love the Zephyr analytics dashboard.")
    memory.refresh_from_db()
    [expected] = local_embedder.embed(["Customers love the Zephyr analytics dashboard."])
    assert list(memory.embedding) == pytest.approx(expected, abs=1e-5)


def test_bad_input_is_refused(in_tenant_a, author_a):
    with pytest.raises(ValidationError, match=re.escape("A memory needs some text.")) as blank:
        _add(author_a, "   ")
    with pytest.raises(ValidationError, match=re.escape("Importance goes from 1 to 5.")) as too_important:
        _add(author_a, "Fine text", importance=9)
    now = timezone.now()
    ends_first = "A memory cannot stop being valid before it starts."
    with pytest.raises(ValidationError, match=re.escape(ends_first)) as backwards:
        _add(author_a, "Fine text", valid_from=now, valid_until=now - timezone.timedelta(days=1))
    assert [set(e.value.message_dict) for e in (blank, too_important, backwards)] == [
        {"text"},
        {"importance"},
        {"valid_until"},
    ]
    assert Memory.objects.count() == 0
