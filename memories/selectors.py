"""Reads of memories, above all `retrieve_memories`: what a flow should remember about an author.

Retrieval is hybrid. A vector leg (pgvector `<=>`, HNSW with iterative scans so the tenant and
author filter does not starve the index) and a full-text leg (`websearch_to_tsquery` on the
generated tsvector) each propose candidates; every candidate gets

    relevance  = VECTOR_WEIGHT * cosine similarity + KEYWORD_WEIGHT * keyword coverage
    score      = relevance * recency factor * importance factor

where keyword coverage is the share of the query's words (after stemming and stop words) that the
memory contains, the recency factor decays with a half-life from 1 to RECENCY_FLOOR, and the
importance factor runs from 0.7 (importance 1) to 1.1 (importance 5). Candidates whose relevance is
below the relevance floor of the embedding model (`relevance_floor`) are cut: they match the query
neither in meaning nor in words. The raw SQL here does not pass through the scoped manager, so every
statement filters by the tenant in scope explicitly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from authors.models import Author
from gateway.embeddings import get_embedder
from memories.models import Memory, MemoryConflict
from memories.sql import text_sql, vector_settings, vector_sql
from memories.text_search import search_config_for
from tenants.context import require_tenant

VECTOR_WEIGHT = 0.7
KEYWORD_WEIGHT = 0.3
RECENCY_HALF_LIFE_DAYS = 90.0
RECENCY_FLOOR = 0.5
CANDIDATES_PER_LEG = 40
# Relevance below which a memory is not worth remembering for a query, per embedding model: with
# all-MiniLM-L6-v2, 0.05 keeps 95 % of the memories relevant to a query on the training families of
# bench/data/memory_contradictions.jsonl (96.6 % on held-out families, cutting 17 % of the
# irrelevant ones; bench/bench_memory_contradictions.py). Other models are not calibrated: they cut
# only what is not relevant at all (relevance 0). settings.MAESTRO_MEMORY_RELEVANCE_FLOOR overrides.
RELEVANCE_FLOORS = {"local/all-MiniLM-L6-v2": 0.05}

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


def relevance_floor(embedding_model: str) -> float:
    configured = getattr(settings, "MAESTRO_MEMORY_RELEVANCE_FLOOR", None)
    return float(configured) if configured is not None else RELEVANCE_FLOORS.get(embedding_model, 0.0)


def _vector_leg(
    params: dict, *, embedding: list[float], embedding_model: str, limit: int, history: bool = False
) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in vector_settings(limit):
            cursor.execute(statement)
        cursor.execute(
            vector_sql(history=history),
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


def _text_leg(params: dict, *, query: str, config: str, limit: int, history: bool = False) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            text_sql(history=history),
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
    history: bool = False,
    min_relevance: float | None = None,
) -> list[ScoredMemory]:
    """The author's valid memories most worth remembering for `query`, best first, with their scores.

    Only the tenant in scope and only this author; not-yet-valid memories never come back, and
    expired or superseded ones only with `history=True`; of two memories flagged as contradicting
    and not decided yet, only the newer (again, unless `history`). Memories less relevant than `min_relevance`
    (default: the embedding model's `relevance_floor`) are cut. Pass `query_embedding` when the
    caller already embedded the query with `get_embedder()`.
    """
    query = (query or "").strip()
    if not query:
        return []
    now = now or timezone.now()
    params = _base_params(author=author, now=now, kinds=kinds)
    embedder = get_embedder()
    embedding = query_embedding if query_embedding is not None else embedder.embed([query])[0]
    depth = max(CANDIDATES_PER_LEG, limit * 4)
    vector_rows = _vector_leg(
        params, embedding=embedding, embedding_model=embedder.model_id, limit=depth, history=history
    )
    config = search_config_for(author.language)
    text_rows = _text_leg(params, query=query, config=config, limit=depth, history=history)
    floor = relevance_floor(embedder.model_id) if min_relevance is None else min_relevance
    scored = _fuse(vector_rows, text_rows, now=now, floor=floor)
    if not history:
        scored = _without_contradicted(scored)
    return scored[:limit]


def _without_contradicted(scored: list[ScoredMemory]) -> list[ScoredMemory]:
    """Until an editor decides, a flow reads the newer of two contradicting memories, not both."""
    ids = [item.memory.pk for item in scored]
    contradicted = set(
        MemoryConflict.objects.filter(
            _still_to_decide(), memory_id__in=ids, contradicts_id__in=ids
        ).values_list("contradicts_id", flat=True)
    )
    return [item for item in scored if item.memory.pk not in contradicted]


def _fuse(
    vector_rows: list[tuple], text_rows: list[tuple], *, now: datetime, floor: float = 0.0
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
        if relevance <= 0.0 or relevance < floor:
            continue
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
    return scored


def nearest_memory(
    *, author: Author, kind: str, embedding: list[float], embedding_model: str
) -> tuple[Memory, float] | None:
    """The author's valid memory of this kind closest to `embedding`, with its cosine similarity."""
    found = nearby_memories(author=author, kinds=[kind], embedding=embedding, embedding_model=embedding_model)
    return found[0] if found else None


def nearby_memories(
    *,
    author: Author,
    embedding: list[float],
    embedding_model: str,
    kinds: list[str] | None = None,
    limit: int = 1,
) -> list[tuple[Memory, float]]:
    """The author's valid memories closest to `embedding`, nearest first, with their cosine similarity."""
    params = _base_params(author=author, now=timezone.now(), kinds=kinds)
    rows = _vector_leg(params, embedding=embedding, embedding_model=embedding_model, limit=limit)
    memories = Memory.objects.in_bulk([memory_id for memory_id, _ in rows])
    return [
        (memories[memory_id], 1.0 - float(distance)) for memory_id, distance in rows if memory_id in memories
    ]


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
    queryset = Memory.objects.select_related("author", "created_by", "superseded_by").prefetch_related(
        Prefetch(
            "conflicts",
            queryset=MemoryConflict.objects.filter(_still_to_decide()),
            to_attr="pending_conflicts",
        )
    )
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
    return get_object_or_404(Memory.objects.select_related("author", "superseded_by"), pk=memory_id)


def pending_conflicts(
    *, author: Author | None = None, memory: Memory | None = None
) -> QuerySet[MemoryConflict]:
    """Contradictions waiting for an editor, newest first: of one author, or involving one memory.

    Only while both memories are still valid: one that expired meanwhile leaves nothing to decide."""
    require_tenant()
    conflicts = MemoryConflict.objects.filter(_still_to_decide()).select_related(
        "memory", "contradicts", "memory__author"
    )
    if author is not None:
        conflicts = conflicts.filter(memory__author=author)
    if memory is not None:
        conflicts = conflicts.filter(Q(memory=memory) | Q(contradicts=memory))
    return conflicts


def _still_to_decide() -> Q:
    now = timezone.now()
    return (
        Q(status=MemoryConflict.Status.PENDING)
        & (Q(memory__valid_until__isnull=True) | Q(memory__valid_until__gt=now))
        & (Q(contradicts__valid_until__isnull=True) | Q(contradicts__valid_until__gt=now))
    )


def conflict_between(*, memory: Memory, other: Memory, pending: bool = True) -> MemoryConflict | None:
    """The contradiction between two memories, whichever of them is the newer: the pending one (to
    decide), or with `pending=False` the latest whatever its state (to show what became of it)."""
    pair = Q(memory=memory, contradicts=other) | Q(memory=other, contradicts=memory)
    if pending:
        return pending_conflicts().filter(pair).first()
    require_tenant()
    return MemoryConflict.objects.filter(pair).select_related("memory", "contradicts").first()
