"""Reads of memories, above all `retrieve_memories`: what a flow should remember about an author.

Retrieval is hybrid. A vector leg (pgvector `<=>`, HNSW with iterative scans so the tenant and
author filter does not starve the index) and a full-text leg (`websearch_to_tsquery` on the
generated tsvector) each propose candidates; every candidate gets

    relevance  = VECTOR_WEIGHT * cosine similarity + KEYWORD_WEIGHT * keyword coverage
    score      = relevance * recency factor * importance factor

where keyword coverage is the share of the query's words (after stemming and stop words) that the
memory contains, the recency factor decays with a half-life from 1 to RECENCY_FLOOR, and the
importance factor runs from 0.7 (importance 1) to 1.1 (importance 5). The raw SQL here does not
pass through the scoped manager, so every statement filters by the tenant in scope explicitly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from authors.models import Author
from gateway.embeddings import get_embedder
from memories.models import Memory
from memories.sql import TEXT_SQL, VECTOR_SQL, vector_settings
from memories.text_search import search_config_for
from tenants.context import require_tenant

VECTOR_WEIGHT = 0.7
KEYWORD_WEIGHT = 0.3
RECENCY_HALF_LIFE_DAYS = 90.0
RECENCY_FLOOR = 0.5
CANDIDATES_PER_LEG = 40

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ScoredMemory:
    """A retrieved memory and why: each component of its score, for flows and the browser to show."""

    memory: Memory
    score: float
    relevance: float
    similarity: float | None  # cosine similarity to the query; None if only the text leg found it
    keyword_coverage: float  # share of the query's words the memory contains
    vector_rank: int | None  # 1-based position in the vector leg
    text_rank: int | None  # 1-based position in the full-text leg
    recency: float  # factor from RECENCY_FLOOR (old) to 1 (fresh)
    importance_weight: float

    def explain(self) -> str:
        similarity = "-" if self.similarity is None else f"{self.similarity:.2f}"
        return (
            f"score {self.score:.3f} = relevance {self.relevance:.3f} (similarity {similarity}, "
            f"keywords {self.keyword_coverage:.0%}) x recency {self.recency:.2f} "
            f"x importance {self.importance_weight:.2f}"
        )


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{value:.8g}" for value in vector) + "]"


def _base_params(*, author: Author, now: datetime, kinds: list[str] | None) -> dict:
    tenant = require_tenant()
    # An author of another tenant finds nothing: the tenant in scope is the filter, not the author's.
    return {
        "tenant_id": tenant.pk,
        "author_id": author.pk,
        "now": now,
        "kinds": list(kinds) if kinds else None,
    }


def _vector_leg(params: dict, *, embedding: list[float], embedding_model: str, limit: int) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in vector_settings(limit):
            cursor.execute(statement)
        cursor.execute(
            VECTOR_SQL,
            {
                **params,
                "embedding": vector_literal(embedding),
                "embedding_model": embedding_model,
                "limit": limit,
            },
        )
        return cursor.fetchall()


def _websearch_text(query: str) -> str:
    """Any of the query's words may match (ranked by how many do); quotes and -words keep their meaning."""
    if '"' in query or re.search(r"(^|\s)-\w", query):
        return query
    return " or ".join(_WORD.findall(query))


def _text_leg(params: dict, *, query: str, config: str, limit: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            TEXT_SQL,
            {
                **params,
                "config": config,
                "websearch": _websearch_text(query),
                "query_text": query,
                "limit": limit,
            },
        )
        return cursor.fetchall()


def _recency(memory: Memory, now: datetime) -> float:
    age_days = max(0.0, (now - memory.refreshed_at).total_seconds() / 86400)
    decay = math.pow(0.5, age_days / RECENCY_HALF_LIFE_DAYS)
    return RECENCY_FLOOR + (1 - RECENCY_FLOOR) * decay


def importance_weight(importance: int) -> float:
    return 0.6 + 0.1 * importance


def retrieve_memories(
    *,
    author: Author,
    query: str,
    limit: int = 8,
    kinds: list[str] | None = None,
    now: datetime | None = None,
    query_embedding: list[float] | None = None,
) -> list[ScoredMemory]:
    """The author's valid memories most worth remembering for `query`, best first, with their scores.

    Only the tenant in scope and only this author; expired and not-yet-valid memories never come back.
    Pass `query_embedding` when the caller already embedded the query with `get_embedder()`.
    """
    query = (query or "").strip()
    if not query:
        return []
    now = now or timezone.now()
    params = _base_params(author=author, now=now, kinds=kinds)
    embedder = get_embedder()
    embedding = query_embedding if query_embedding is not None else embedder.embed([query])[0]
    depth = max(CANDIDATES_PER_LEG, limit * 4)
    vector_rows = _vector_leg(params, embedding=embedding, embedding_model=embedder.model_id, limit=depth)
    text_rows = _text_leg(params, query=query, config=search_config_for(author.language), limit=depth)
    return _fuse(vector_rows, text_rows, now=now, limit=limit)


def _fuse(
    vector_rows: list[tuple], text_rows: list[tuple], *, now: datetime, limit: int
) -> list[ScoredMemory]:
    similarity = {row[0]: (1.0 - float(row[1]), rank) for rank, row in enumerate(vector_rows, start=1)}
    keywords = {row[0]: (float(row[2]), rank) for rank, row in enumerate(text_rows, start=1)}
    # Reloaded through the scoped manager: a second, independent tenant filter.
    memories = Memory.objects.in_bulk(set(similarity) | set(keywords))
    scored = []
    for memory_id, memory in memories.items():
        cosine, vector_rank = similarity.get(memory_id, (None, None))
        coverage, text_rank = keywords.get(memory_id, (0.0, None))
        relevance = VECTOR_WEIGHT * max(cosine or 0.0, 0.0) + KEYWORD_WEIGHT * coverage
        recency = _recency(memory, now)
        weight = importance_weight(memory.importance)
        scored.append(
            ScoredMemory(
                memory=memory,
                score=relevance * recency * weight,
                relevance=relevance,
                similarity=cosine,
                keyword_coverage=coverage,
                vector_rank=vector_rank,
                text_rank=text_rank,
                recency=recency,
                importance_weight=weight,
            )
        )
    scored.sort(key=lambda item: (-item.score, item.memory.pk))
    return scored[:limit]


def nearest_memory(
    *, author: Author, kind: str, embedding: list[float], embedding_model: str
) -> tuple[Memory, float] | None:
    """The author's valid memory of this kind closest to `embedding`, with its cosine similarity."""
    params = _base_params(author=author, now=timezone.now(), kinds=[kind])
    rows = _vector_leg(params, embedding=embedding, embedding_model=embedding_model, limit=1)
    if not rows:
        return None
    memory_id, distance = rows[0]
    memory = Memory.objects.filter(pk=memory_id).first()
    return (memory, 1.0 - float(distance)) if memory else None


def memories_list(
    *,
    author: Author | None = None,
    kind: str | None = None,
    status: str = "valid",
    now: datetime | None = None,
) -> QuerySet[Memory]:
    """The tenant's memories for browsing. status: valid, expired (or not yet valid), or all."""
    require_tenant()
    now = now or timezone.now()
    queryset = Memory.objects.select_related("author", "created_by")
    if author is not None:
        queryset = queryset.filter(author=author)
    if kind:
        queryset = queryset.filter(kind=kind)
    valid = Q(valid_from__lte=now) & (Q(valid_until__isnull=True) | Q(valid_until__gt=now))
    if status == "valid":
        queryset = queryset.filter(valid)
    elif status == "expired":
        queryset = queryset.exclude(valid)
    return queryset


def access_memory(*, memory_id: int) -> Memory:
    """A memory of the current tenant, or 404 (for missing and foreign alike)."""
    return get_object_or_404(Memory.objects.select_related("author"), pk=memory_id)
