"""Writes of memories. Embeddings are computed here, on write, before any row is locked.

`memory_add` merges a near-duplicate into the memory it repeats instead of piling up copies: see
`DEDUP_THRESHOLD` and `_same_anchors` for what counts as "the same thing said again".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from authors.models import Author
from gateway.embeddings import get_embedder
from memories.models import EMBEDDING_DIMENSIONS, Memory
from memories.selectors import nearest_memory
from memories.text_search import search_config_for
from tenants.models import User

# Cosine similarity above which a new memory of the same author and kind is merged into an existing
# one. Measured with all-MiniLM-L6-v2 on hand-written pairs (docs/memories.md): close paraphrases
# score 0.85-0.98, different facts about the same subject at most 0.64. Loose paraphrases (0.68-0.71)
# stay separate: a missed merge costs a near-copy, a wrong merge loses a fact.
DEDUP_THRESHOLD = 0.85
MAX_TEXT_LENGTH = 2000

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NEGATION = re.compile(r"\b(?:not|never|no|avoid|without|don't|dont|doesn't|isn't|won't|can't)\b|n't\b", re.I)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)([A-Z]\w*)")
_CAPITALISED = re.compile(r"\b[A-Z][\w-]*")


@dataclass(frozen=True)
class MemoryWriteResult:
    memory: Memory
    merged: bool


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


def _embed(text: str) -> tuple[list[float], str]:
    embedder = get_embedder()
    [vector] = embedder.embed([text])
    if len(vector) != EMBEDDING_DIMENSIONS:
        raise ValidationError(
            f"The embedder {embedder.model_id} makes {len(vector)}-dimension vectors; memories store "
            f"{EMBEDDING_DIMENSIONS}. Configure MAESTRO_EMBEDDINGS['dimensions'] accordingly."
        )
    return vector, embedder.model_id


def _anchors(text: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """Numbers, names (capitalised words not opening a sentence) and negation: what makes a fact."""
    openers = {match.start(1) for match in _SENTENCE_START.finditer(text)}
    names = frozenset(m.group(0).lower() for m in _CAPITALISED.finditer(text) if m.start() not in openers)
    numbers = frozenset(n.replace(",", ".") for n in _NUMBER.findall(text))
    return numbers, names, bool(_NEGATION.search(text))


def _same_anchors(a: str, b: str) -> bool:
    """Embeddings rate "120 employees" and "150 employees" 0.93 alike; a changed fact is no duplicate."""
    numbers_a, names_a, negated_a = _anchors(a)
    numbers_b, names_b, negated_b = _anchors(b)
    return numbers_a == numbers_b and negated_a == negated_b and (names_a <= names_b or names_b <= names_a)


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
    vector, model_id = _embed(text)
    with transaction.atomic():
        # One writer per author at a time, so two identical adds cannot both insert.
        Author.objects.select_for_update().get(pk=author.pk)
        if dedup and valid_until is None:
            duplicate = _find_duplicate(author=author, kind=kind, text=text, vector=vector, model_id=model_id)
            if duplicate is not None:
                return MemoryWriteResult(
                    _merge(duplicate, text=text, vector=vector, importance=importance), True
                )
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
    return MemoryWriteResult(memory, False)


def _find_duplicate(
    *, author: Author, kind: str, text: str, vector: list[float], model_id: str
) -> Memory | None:
    found = nearest_memory(author=author, kind=kind, embedding=vector, embedding_model=model_id)
    if found is None:
        return None
    memory, similarity = found
    if similarity < DEDUP_THRESHOLD or not _same_anchors(memory.text, text):
        return None
    return memory


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
    """Change a memory; a new text is embedded again. `valid_until=None` makes it valid again."""
    if text is not None:
        text = _clean_text(text)
        if text != memory.text:
            memory.embedding, memory.embedding_model = _embed(text)
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
    _check_validity(memory.valid_from, memory.valid_until)
    memory.save()
    return memory


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
