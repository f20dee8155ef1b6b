"""Test data for memories. `make_memory` writes a row directly, with a fixed vector: no model needed."""

from __future__ import annotations

import math

from authors.models import Author
from memories.models import EMBEDDING_DIMENSIONS, Memory
from tenants.context import tenant_scope
from tenants.models import Tenant


def unit_vector(seed: int = 0) -> list[float]:
    raw = [math.sin(seed * 7.1 + i * 0.37) for i in range(EMBEDDING_DIMENSIONS)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def make_author(*, tenant: Tenant, name: str = "Ada Lovelace", language: str = "en") -> Author:
    with tenant_scope(tenant):
        return Author.objects.get_or_create(name=name, defaults={"language": language})[0]


def make_memory(
    *, tenant: Tenant, author: Author | None = None, text: str = "Keep posts short.", **fields
) -> Memory:
    author = author or make_author(tenant=tenant)
    fields.setdefault("kind", Memory.Kind.LEARNING)
    fields.setdefault("embedding", unit_vector(len(text)))
    fields.setdefault("embedding_model", "test/fixed")
    with tenant_scope(tenant):
        return Memory.objects.create(author=author, text=text, **fields)
