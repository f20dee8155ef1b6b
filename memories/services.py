"""Writes of memories. Embeddings are computed here, on write.

`memory_add` reads the new memory as a statement (`memories.contradictions`) and compares it with the
author's nearest valid memories: a near-duplicate (same subject, same values, however written) is
merged into the memory it repeats; a contradiction (same subject, another value) is recorded as a
pending `MemoryConflict`, which an editor resolves with `memory_supersede` (the older memory stops
being valid and links to its successor) or `memory_keep_both`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from authors.models import Author
from gateway.embeddings import get_embedder
from memories.contradictions import (
    NEIGHBOURS,
    Relation,
    Statement,
    contradiction_probability,
    read_statement,
    relate,
)
from memories.models import EMBEDDING_DIMENSIONS, Memory, MemoryConflict
from memories.selectors import conflict_between, nearby_memories
from memories.text_search import search_config_for
from tenants.models import User

MAX_TEXT_LENGTH = 2000


class MemoryStateError(Exception):
    """The action is valid but not in the memory's current state (already superseded, no conflict)."""


@dataclass(frozen=True)
class MemoryWriteResult:
    memory: Memory
    merged: bool
    contradicts: tuple[Memory, ...] = ()  # valid memories the new one contradicts (pending conflicts)


@dataclass(frozen=True)
class _Neighbour:
    memory: Memory
    relation: Relation
    probability: float  # of a contradiction; 0 unless relation is CONTRADICTION


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "A memory needs some text."})
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError({"text": f"Keep a memory under {MAX_TEXT_LENGTH} characters."})
    return text


def _check_importance(importance: int) -> int:
    if not 1 <= int(importance) <= 5:
        raise ValidationError({"importance": "Importance goes from 1 to 5."})
    return int(importance)


def _check_validity(valid_from: datetime, valid_until: datetime | None) -> None:
    if valid_until is not None and valid_until < valid_from:
        raise ValidationError({"valid_until": "A memory cannot stop being valid before it starts."})


def _embed_all(texts: list[str]) -> tuple[list[list[float]], str]:
    embedder = get_embedder()
    vectors = embedder.embed(texts)
    if any(len(vector) != EMBEDDING_DIMENSIONS for vector in vectors):
        raise ValidationError(
            f"The embedder {embedder.model_id} makes {len(vectors[0])}-dimension vectors; memories store "
            f"{EMBEDDING_DIMENSIONS}. Configure MAESTRO_EMBEDDINGS['dimensions'] accordingly."
        )
    return vectors, embedder.model_id


def _richer(existing: str, new: str) -> str:
    return new if len(new.split()) > len(existing.split()) else existing


def memory_add(
    *,
    author: Author,
    kind: str,
    text: str,
    source: str = Memory.Source.MANUAL,
    importance: int = 3,
    created_by: User | None = None,
    source_ref: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    dedup: bool = True,
) -> MemoryWriteResult:
    """Remember something about the author, or reinforce the near-identical memory already kept."""
    text = _clean_text(text)
    importance = _check_importance(importance)
    if kind not in Memory.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}."})
    if source not in Memory.Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}."})
    now = timezone.now()
    valid_from = valid_from or now
    _check_validity(valid_from, valid_until)
    statement = read_statement(text, language=author.language)
    [vector, subject_vector], model_id = _embed_all([text, statement.subject])
    with transaction.atomic():
        # One writer per author at a time, so two identical adds cannot both insert.
        Author.objects.select_for_update().get(pk=author.pk)
        neighbours = (
            _neighbours(
                author=author,
                statement=statement,
                vector=vector,
                subject_vector=subject_vector,
                model_id=model_id,
            )
            if dedup and valid_until is None
            else []
        )
        duplicate = next(
            (n.memory for n in neighbours if n.relation is Relation.DUPLICATE and n.memory.kind == kind), None
        )
        if duplicate is not None:
            return MemoryWriteResult(_merge(duplicate, text=text, vector=vector, importance=importance), True)
        memory = Memory.objects.create(
            author=author,
            kind=kind,
            text=text,
            source=source,
            source_ref=source_ref,
            importance=importance,
            valid_from=valid_from,
            valid_until=valid_until,
            embedding=vector,
            embedding_model=model_id,
            text_search_config=search_config_for(author.language),
            created_by=created_by,
        )
        contradicted = _flag_contradictions(memory=memory, neighbours=neighbours)
    return MemoryWriteResult(memory, False, contradicted)


def _flag_contradictions(*, memory: Memory, neighbours: list[_Neighbour]) -> tuple[Memory, ...]:
    """A pending conflict for each neighbour `memory` contradicts, unless the pair was flagged before
    (in either direction: a pair an editor already decided stays decided)."""
    flagged = []
    for neighbour in neighbours:
        if neighbour.relation is not Relation.CONTRADICTION:
            continue
        pair = (Q(memory=memory) & Q(contradicts=neighbour.memory)) | (
            Q(memory=neighbour.memory) & Q(contradicts=memory)
        )
        if not MemoryConflict.objects.filter(pair).exists():
            MemoryConflict.objects.create(
                memory=memory, contradicts=neighbour.memory, probability=neighbour.probability
            )
            flagged.append(neighbour.memory)
    return tuple(flagged)


def _neighbours(
    *,
    author: Author,
    statement: Statement,
    vector: list[float],
    subject_vector: list[float],
    model_id: str,
    exclude: Memory | None = None,
) -> list[_Neighbour]:
    """How the author's nearest valid memories relate to the new statement, nearest first."""
    found = nearby_memories(author=author, embedding=vector, embedding_model=model_id, limit=NEIGHBOURS + 1)
    nearby = [m for m, _ in found if exclude is None or m.pk != exclude.pk][:NEIGHBOURS]
    if not nearby:
        return []
    statements = [read_statement(memory.text, language=author.language) for memory in nearby]
    # Embedded under the author's lock: a handful of short subjects, and the comparison must see the
    # memories as they are now (a concurrent add of the same fact waits, then finds this one).
    subject_vectors, _ = _embed_all([other.subject for other in statements])
    neighbours = []
    for memory, other, other_vector in zip(nearby, statements, subject_vectors, strict=True):
        similarity = sum(x * y for x, y in zip(subject_vector, other_vector, strict=True))
        relation = relate(statement, other, subject_similarity=similarity)
        probability = (
            contradiction_probability(statement, other, subject_similarity=similarity)
            if relation is Relation.CONTRADICTION
            else 0.0
        )
        neighbours.append(_Neighbour(memory, relation, probability))
    return neighbours


def _merge(memory: Memory, *, text: str, vector: list[float], importance: int) -> Memory:
    richer = _richer(memory.text, text)
    if richer != memory.text:
        memory.text = richer
        memory.embedding = vector
    memory.importance = max(memory.importance, importance)
    memory.merge_count += 1
    memory.last_merged_at = timezone.now()
    memory.save()
    return memory


class _Unset(enum.Enum):
    """The default of an argument that may also be set to None."""

    UNSET = enum.auto()


_UNSET = _Unset.UNSET


@transaction.atomic
def memory_update(
    *,
    memory: Memory,
    text: str | None = None,
    kind: str | None = None,
    importance: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | Literal[_Unset.UNSET] | None = _UNSET,
) -> Memory:
    """Change a memory; a new text is embedded again and compared with the author's other valid
    memories (a contradiction is flagged, as on add; nothing is merged). `valid_until=None` makes it
    valid again."""
    new_text: Statement | None = None
    if text is not None:
        text = _clean_text(text)
        if text != memory.text:
            new_text = read_statement(text, language=memory.author.language)
            [memory.embedding, subject_vector], memory.embedding_model = _embed_all([text, new_text.subject])
            memory.text = text
            memory.text_search_config = search_config_for(memory.author.language)
    if kind is not None:
        if kind not in Memory.Kind.values:
            raise ValidationError({"kind": f"Unknown kind {kind!r}."})
        memory.kind = kind
    if importance is not None:
        memory.importance = _check_importance(importance)
    if valid_from is not None:
        memory.valid_from = valid_from
    if valid_until is not _UNSET:
        memory.valid_until = valid_until
        if valid_until is None:
            memory.superseded_by = None  # valid again: no longer replaced by anything
    _check_validity(memory.valid_from, memory.valid_until)
    memory.save()
    if new_text is not None and memory.is_valid_at(timezone.now()):
        _flag_contradictions_of_edit(memory=memory, statement=new_text, subject_vector=subject_vector)
    return memory


def _flag_contradictions_of_edit(
    *, memory: Memory, statement: Statement, subject_vector: list[float]
) -> None:
    """An edited text is a new statement: flag the valid memories it now contradicts."""
    neighbours = _neighbours(
        author=memory.author,
        statement=statement,
        vector=list(memory.embedding),
        subject_vector=subject_vector,
        model_id=memory.embedding_model,
        exclude=memory,
    )
    _flag_contradictions(memory=memory, neighbours=neighbours)


def memory_expire(*, memory: Memory, at: datetime | None = None) -> Memory:
    """From now on (or `at`), the memory is no longer valid: kept for the record, never retrieved."""
    moment = at or timezone.now()
    memory.valid_until = max(moment, memory.valid_from)
    memory.save(update_fields=["valid_until", "updated_at"])
    return memory


def memory_delete(*, memory: Memory) -> None:
    memory.delete()


def memory_reembed(*, memories: list[Memory]) -> int:
    """Embed these memories again with the configured model, in one batch. Returns how many changed."""
    if not memories:
        return 0
    embedder = get_embedder()
    vectors = embedder.embed([memory.text for memory in memories])
    for memory, vector in zip(memories, vectors, strict=True):
        memory.embedding = vector
        memory.embedding_model = embedder.model_id
    Memory.objects.bulk_update(memories, ["embedding", "embedding_model"])
    return len(memories)


def memory_supersede(*, memory: Memory, successor: Memory, actor: User | None = None) -> Memory:
    """`memory` is replaced by `successor` (a valid memory of the same author): from now on it is no
    longer valid and links to its successor. A pending contradiction between the two is resolved."""
    if successor.pk == memory.pk:
        raise ValidationError({"successor": "A memory cannot supersede itself."})
    if successor.author_id != memory.author_id:
        raise ValidationError({"successor": "Only a memory of the same author can supersede this one."})
    with transaction.atomic():
        locked = Memory.objects.select_for_update().in_bulk([memory.pk, successor.pk])
        memory, successor = locked[memory.pk], locked[successor.pk]
        now = timezone.now()
        if memory.superseded_by_id is not None:
            raise MemoryStateError(f"This memory was already superseded by memory {memory.superseded_by_id}.")
        if not memory.is_valid_at(now):
            raise MemoryStateError("This memory is not valid now: there is nothing left to supersede.")
        if not successor.is_valid_at(now):
            raise MemoryStateError("The successor is not valid now; only a valid memory can replace another.")
        memory.valid_until = max(now, memory.valid_from)
        memory.superseded_by = successor
        memory.save(update_fields=["valid_until", "superseded_by", "updated_at"])
        _resolve(memory=memory, other=successor, status=MemoryConflict.Status.SUPERSEDED, actor=actor)
        record(
            action="memory.superseded",
            target=memory,
            after={"valid_until": memory.valid_until, "superseded_by": successor.pk},
            actor=actor,
        )
    return memory


@transaction.atomic
def memory_keep_both(*, memory: Memory, other: Memory, actor: User | None = None) -> MemoryConflict:
    """The editor says the two memories flagged as contradicting both hold: the conflict is closed."""
    conflict = conflict_between(memory=memory, other=other)
    if conflict is None:
        raise MemoryStateError("There is no pending contradiction between these two memories.")
    _resolve(memory=memory, other=other, status=MemoryConflict.Status.KEPT, actor=actor)
    record(action="memory.kept_both", target=memory, after={"contradicts": other.pk}, actor=actor)
    conflict.refresh_from_db()
    return conflict


def _resolve(*, memory: Memory, other: Memory, status: str, actor: User | None) -> None:
    pair = (Q(memory=memory) & Q(contradicts=other)) | (Q(memory=other) & Q(contradicts=memory))
    MemoryConflict.objects.filter(pair, status=MemoryConflict.Status.PENDING).update(
        status=status, resolved_by=actor, resolved_at=timezone.now()
    )
