from __future__ import annotations

import pytest

from gateway.embeddings import get_embedder
from memories.tests.factories import make_author


@pytest.fixture(scope="session")
def local_embedder():
    """The real all-MiniLM-L6-v2, loaded once for the whole session (the default backend)."""
    embedder = get_embedder()
    assert embedder.model_id == "local/all-MiniLM-L6-v2"
    return embedder


@pytest.fixture
def author_a(tenant_a, local_embedder):
    return make_author(tenant=tenant_a, name="Ana Costa")


@pytest.fixture
def author_b(tenant_b, local_embedder):
    return make_author(tenant=tenant_b, name="Bruno Silva")
