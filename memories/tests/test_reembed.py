from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from memories.models import Memory
from memories.selectors import retrieve_memories
from memories.tests.factories import make_memory
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _reembed(*args) -> str:
    out = StringIO()
    call_command("reembed_memories", *args, stdout=out)
    return out.getvalue()


def test_reembedding_brings_old_vectors_to_the_configured_model_once(tenant_a, author_a, local_embedder):
    stale = [
        make_memory(tenant=tenant_a, author=author_a, text=f"Quorvex fact number {n}.") for n in range(3)
    ]
    output = _reembed("--batch", "2")
    assert "3 memories re-embedded" in output
    with tenant_scope(tenant_a):
        refreshed = list(Memory.objects.filter(pk__in=[memory.pk for memory in stale]))
        assert {memory.embedding_model for memory in refreshed} == {local_embedder.model_id}
        [expected] = local_embedder.embed([refreshed[0].text])
        assert list(refreshed[0].embedding) == pytest.approx(expected, abs=1e-5)
        # Now the vector leg finds them, not only the keywords.
        assert retrieve_memories(author=author_a, query="Quorvex fact number 1")[0].vector_rank is not None
    assert "0 memories re-embedded" in _reembed()


def test_reembedding_one_tenant_leaves_the_others_alone(tenant_a, tenant_b, author_a, author_b):
    make_memory(tenant=tenant_a, author=author_a)
    other = make_memory(tenant=tenant_b, author=author_b)
    assert "1 memories re-embedded" in _reembed("--tenant", tenant_a.slug)
    with tenant_scope(tenant_b):
        assert Memory.objects.get(pk=other.pk).embedding_model == "test/fixed"
