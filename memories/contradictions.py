"""How two memories of one author relate: the same fact again, a contradiction, or two facts.

A memory is read as a *statement*: its values in canonical form (`memories.values`), its polarity
(negated or not), the names it mentions, and its *subject*, the text with the values and the negation
masked ("The company has #number employees"). When their names do not conflict:

- the same values and the same polarity, subjects at least `DUPLICATE_SUBJECT` alike: a **duplicate**
  (merged on write);
- different values of the same kinds, or the opposite polarity, subjects alike enough
  (`contradiction_probability`, from their similarity and their shared wording): a **contradiction**
  (flagged for an editor, who supersedes the older memory or keeps both);
- otherwise, and always for values of different kinds ("120 employees" / "120 employees since 2020")
  or the same figure for different dates ("15% in 2022" / "35% in 2023"): **compatible** (two facts)
  when the subjects are at least `RELATED` alike, **unrelated** below.

The thresholds were chosen on the training subjects of bench/data/memory_contradictions.jsonl
and are measured on held-out subjects by bench/bench_memory_contradictions.py (docs/memories.md).
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from dataclasses import dataclass

from memories.values import Value, extract_values, fold, mask_values

# Chosen on the training families of bench/data/memory_contradictions.jsonl (all-MiniLM-L6-v2), with
# costs that differ: a flagged contradiction costs an editor a click when wrong, a missed one leaves a
# stale fact in posts (F2, recall first); a merge loses the other wording when wrong (F0.5, precision
# first). RELATED only separates compatible from unrelated. The training families include
# statements restated in words that share little with the first wording ("The company runs 4
# offices" / "We have 4 locations around the world"): an author rarely repeats a fact word for word.
#
# Same subject, different values: a logistic model of the subjects' cosine similarity and their
# character-trigram overlap, the features that leave-one-family-out validation on the training
# families prefers (bench/bench_memory_contradictions.py fits and selects them).
CONTRADICTION_WEIGHTS = (-2.27, 2.21, 2.62)  # bias, cosine, trigram overlap
CONTRADICTION_PROBABILITY = 0.34
# Same subject, same values: cosine similarity of the subjects.
DUPLICATE_SUBJECT = 0.70
RELATED = 0.42
# How many of the author's nearest valid memories (by the full text's embedding) a new one is compared with.
NEIGHBOURS = 5

# Per language: Portuguese "no" means "in the". Other languages get both lists without "no".
_NEGATION_WORDS = {
    "en": r"not|never|no|avoid|without|don't|dont|doesn't|isn't|won't|can't|cannot",
    "pt": r"não|nao|nunca|jamais|evite|evitar|evita|sem|nenhum|nenhuma",
}
_NEGATION_WORDS[""] = _NEGATION_WORDS["en"].replace("|no|", "|") + "|" + _NEGATION_WORDS["pt"]
_NEGATIONS = {
    language: re.compile(rf"\b(?:{words})\b|n't\b", re.IGNORECASE)
    for language, words in _NEGATION_WORDS.items()
}
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)([A-ZÀ-Ý]\w*)")
_CAPITALISED = re.compile(r"\b[A-ZÀ-Ý][\w-]*")
_SPACES = re.compile(r"\s+")


class Relation(enum.StrEnum):
    CONTRADICTION = "contradiction"
    DUPLICATE = "duplicate"
    COMPATIBLE = "compatible"
    UNRELATED = "unrelated"


@dataclass(frozen=True)
class Statement:
    text: str
    values: tuple[Value, ...]
    subject: str
    negated: bool
    names: frozenset[str]

    @property
    def canonical_values(self) -> tuple[str, ...]:
        return tuple(value.canonical for value in self.values)


def read_statement(text: str, *, language: str = "") -> Statement:
    """`language` is the author's (BCP 47, e.g. "pt-BR"): it says which words negate."""
    values = tuple(extract_values(text))
    masked = mask_values(text, list(values))
    primary = (language or "").split("-", 1)[0].lower()
    negation = _NEGATIONS.get(primary, _NEGATIONS[""])
    subject = _SPACES.sub(" ", negation.sub(" ", masked)).strip()
    # Names come from the masked text: "Tuesdays" or "March" are values, not names.
    return Statement(
        text=text, values=values, subject=subject, negated=bool(negation.search(masked)), names=_names(masked)
    )


def _names(text: str) -> frozenset[str]:
    """Capitalised words that do not open a sentence: people, products, places."""
    openers = {match.start(1) for match in _SENTENCE_START.finditer(text)}
    return frozenset(m.group(0).lower() for m in _CAPITALISED.finditer(text) if m.start() not in openers)


def names_conflict(a: Statement, b: Statement) -> bool:
    """ "Acme Flow" and "Acme Desk": each names something the other does not."""
    return bool(a.names and b.names) and not (a.names <= b.names or b.names <= a.names)


def text_overlap(a: Statement, b: Statement) -> float:
    """Jaccard overlap of the subjects' character trigrams (lower case, accents folded): the wording
    two statements share, in any language, beside what the embedding model makes of it."""
    grams_a, grams_b = _trigrams(a.subject), _trigrams(b.subject)
    return len(grams_a & grams_b) / max(len(grams_a | grams_b), 1)


def _trigrams(subject: str) -> frozenset[str]:
    folded = fold(subject)
    return frozenset(folded[i : i + 3] for i in range(len(folded) - 2))


def contradiction_probability(a: Statement, b: Statement, *, subject_similarity: float) -> float:
    bias, cosine, overlap = CONTRADICTION_WEIGHTS
    z = bias + cosine * subject_similarity + overlap * text_overlap(a, b)
    return 1 / (1 + math.exp(-z))


def relate(a: Statement, b: Statement, *, subject_similarity: float) -> Relation:
    """What `b` is to `a`, given the cosine similarity of their subjects' embeddings."""
    relation = Relation.COMPATIBLE if subject_similarity >= RELATED else Relation.UNRELATED
    if names_conflict(a, b):
        return relation
    values = compare_values(a, b)
    if values is Relation.CONTRADICTION:
        probability = contradiction_probability(a, b, subject_similarity=subject_similarity)
        return values if probability >= CONTRADICTION_PROBABILITY else relation
    if values is Relation.DUPLICATE and subject_similarity >= DUPLICATE_SUBJECT:
        return values
    return relation


def compare_values(a: Statement, b: Statement) -> Relation:
    """For two statements about the same subject: do their values and polarity agree?"""
    dates_a, others_a = _split_dates(a.values)
    dates_b, others_b = _split_dates(b.values)
    # A date beside another value says when that value held: two dates, two facts.
    if others_a and others_b and dates_a and dates_b and dates_a != dates_b:
        return Relation.COMPATIBLE
    if others_a or others_b:
        if Counter(v.kind for v in others_a) != Counter(v.kind for v in others_b):
            return Relation.COMPATIBLE
        same = sorted(v.canonical for v in others_a) == sorted(v.canonical for v in others_b)
    else:
        if bool(dates_a) != bool(dates_b):
            return Relation.COMPATIBLE
        same = dates_a == dates_b
    if same and a.negated == b.negated:
        return Relation.DUPLICATE
    return Relation.CONTRADICTION


def _split_dates(values: tuple[Value, ...]) -> tuple[frozenset[str], list[Value]]:
    dates = frozenset(value.canonical for value in values if value.kind == "date")
    return dates, [value for value in values if value.kind != "date"]
