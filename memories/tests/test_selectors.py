from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from memories.models import Memory
from memories.selectors import memories_list, retrieve_memories
from memories.services import memory_add, memory_expire
from memories.tests.factories import make_author
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _add(author, text, *, kind=Memory.Kind.LEARNING, importance=3, **fields):
    return memory_add(
        author=author, kind=kind, text=text, importance=importance, dedup=False, **fields
    ).memory


def _texts(results):
    return [found.memory.text for found in results]


def test_retrieval_never_returns_another_tenants_memories_even_when_they_match_better(
    tenant_a, tenant_b, author_a, author_b
):
    with tenant_scope(tenant_b):
        for text in [
            "LinkedIn posts about pricing strategy perform best on Tuesday.",
            "Pricing strategy posts get the most comments on LinkedIn.",
            "Our pricing strategy post was the best performer on LinkedIn this year.",
        ]:
            _add(author_b, text)
    with tenant_scope(tenant_a):
        own = _add(author_a, "Readers like behind-the-scenes stories about hiring.")
        results = retrieve_memories(author=author_a, query="pricing strategy posts on LinkedIn", limit=8)
        assert [found.memory.pk for found in results] == [own.pk]
        # An author object of tenant B under tenant A's scope finds nothing at all.
        assert retrieve_memories(author=author_b, query="pricing strategy posts on LinkedIn") == []


def test_retrieval_returns_only_the_authors_own_memories(in_tenant_a, author_a, tenant_a):
    other = make_author(tenant=tenant_a, name="Other Author")
    _add(other, "Talk about the Zephyr launch in every post.")
    mine = _add(author_a, "The Zephyr launch moved to the spring.")
    results = retrieve_memories(author=author_a, query="Zephyr launch")
    assert [found.memory.pk for found in results] == [mine.pk]


def test_expired_and_not_yet_valid_memories_are_never_retrieved(in_tenant_a, author_a):
    expired = _add(author_a, "The Zephyr beta is free for startups.")
    memory_expire(memory=expired)
    _add(author_a, "The Zephyr price rises in January.", valid_from=timezone.now() + timedelta(days=30))
    valid = _add(author_a, "Zephyr customers are mostly fintechs.")
    assert [found.memory.pk for found in retrieve_memories(author=author_a, query="Zephyr")] == [valid.pk]


def test_hybrid_search_finds_an_exact_product_name_that_vectors_alone_miss(in_tenant_a, author_a):
    product = _add(author_a, "The XR-200 ships to hospitals in Portugal.")
    for text in [
        "Our thermometers measure within a tenth of a degree.",
        "Precise measurement devices need yearly calibration.",
        "Buyers ask how precise our instruments are.",
        "Hospitals want proof that devices are reliable.",
    ]:
        _add(author_a, text)
    results = retrieve_memories(author=author_a, query="sensor accuracy of the XR-200", limit=5)
    found = next(found for found in results if found.memory.pk == product.pk)
    assert found.vector_rank > 1, "the case must be one that vector similarity alone gets wrong"
    assert found.text_rank == 1
    assert results[0].memory.pk == product.pk


def test_importance_lifts_a_comparably_relevant_memory(in_tenant_a, author_a):
    minor = _add(author_a, "Short posts about hiring do well on Mondays.", importance=1)
    major = _add(author_a, "Posts about hiring do well, especially short ones.", importance=5)
    results = retrieve_memories(author=author_a, query="short posts about hiring on Mondays", limit=2)
    assert results[0].similarity < results[1].similarity or results[0].memory.pk == major.pk
    assert _texts(results)[0] == major.text
    assert {found.memory.pk for found in results} == {minor.pk, major.pk}


def test_recent_memories_outrank_comparably_relevant_old_ones(in_tenant_a, author_a):
    old = _add(author_a, "Short posts about hiring do well on Mondays.")
    recent = _add(author_a, "Posts about hiring do well, especially short ones.")
    Memory.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=365))
    results = retrieve_memories(author=author_a, query="short posts about hiring on Mondays", limit=2)
    assert results[0].memory.pk == recent.pk
    assert results[1].recency < 0.6 < results[0].recency


def test_retrieval_explains_each_score(in_tenant_a, author_a):
    _add(author_a, "Quorvex customers are mostly fintechs.", importance=4)
    [found] = retrieve_memories(author=author_a, query="Who buys Quorvex?")
    assert found.similarity > 0.3
    assert found.vector_rank == 1
    assert found.importance_weight == pytest.approx(1.0)
    assert found.score == pytest.approx(found.relevance * found.recency * found.importance_weight)
    assert "similarity" in found.explain()


def test_retrieval_can_be_limited_to_some_kinds(in_tenant_a, author_a):
    _add(author_a, "Zephyr is our flagship product.", kind=Memory.Kind.FACT)
    feedback = _add(author_a, "The editor cut the Zephyr pitch as too salesy.", kind=Memory.Kind.FEEDBACK)
    results = retrieve_memories(author=author_a, query="Zephyr", kinds=[Memory.Kind.FEEDBACK])
    assert [found.memory.pk for found in results] == [feedback.pk]


def test_browsing_lists_valid_or_expired_memories_of_the_tenant_only(tenant_a, tenant_b, author_a, author_b):
    with tenant_scope(tenant_b):
        _add(author_b, "Tenant B's memory.")
    with tenant_scope(tenant_a):
        kept = _add(author_a, "Still true.")
        gone = _add(author_a, "No longer true.")
        memory_expire(memory=gone)
        assert list(memories_list()) == [kept]
        assert list(memories_list(status="expired")) == [gone]
        assert set(memories_list(status="all")) == {kept, gone}
