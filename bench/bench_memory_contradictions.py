"""Memories that stay true: contradiction and duplicate detection, and the relevance floor of search.

    python bench/data/memory_contradictions_make.py        # (re)writes the labelled pairs
    python bench/bench_memory_contradictions.py [--embedder local|hashing]

1. Pair relations, on bench/data/memory_contradictions.jsonl (pairs of memories of one author labelled
   contradiction / duplicate / compatible / unrelated, EN and PT, split by subject family): each pair's
   subjects (values and negation masked, `memories.contradictions.read_statement`) are embedded, and
   `relate` decides with the thresholds in memories/contradictions.py. Prints precision and recall per
   label on the train and held-out families, and what the train families alone choose: the features of
   the contradiction model (leave-one-family-out validation on the train families compares feature
   sets), its weights (logistic regression of "same subject" on the subjects' cosine and trigram
   overlap, over the train pairs whose values differ) and its probability threshold by F2 of
   contradictions (a missed contradiction costs more than a needless flag), DUPLICATE_SUBJECT by F0.5
   of duplicates (a wrong merge loses a fact), RELATED by macro F1 of the four labels. The held-out
   families never choose anything.
2. Candidates: memory_add compares a new memory with the author's few nearest memories only; for an
   author holding one memory per subject, is the contradicted memory among them?
3. Relevance floor of search: each family has a search query; a memory of the family is relevant to it,
   a memory of another family is not. Relevance is computed as `retrieve_memories` does
   (0.7 x cosine + 0.3 x keyword coverage, coverage from PostgreSQL's text search); prints, per floor,
   the share of relevant memories kept and of irrelevant ones cut, and the floor the train families
   choose (the highest that keeps 95 % of their relevant memories).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memories import contradictions  # noqa: E402
from memories.contradictions import Relation, read_statement, relate  # noqa: E402
from memories.values import fold  # noqa: E402

DATA = ROOT / "bench" / "data" / "memory_contradictions.jsonl"
LABELS = [relation.value for relation in Relation]
KEEP_RELEVANT = 0.95


def embedder_for(name: str):
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from gateway.embeddings import HashingEmbedder, LocalEmbedder

    return LocalEmbedder() if name == "local" else HashingEmbedder()


def cosines(embedder, texts: list[str]) -> dict[str, list[float]]:
    unique = sorted(set(texts))
    return dict(zip(unique, embedder.embed(unique), strict=True))


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


THRESHOLDS = ("CONTRADICTION_WEIGHTS", "CONTRADICTION_PROBABILITY", "DUPLICATE_SUBJECT", "RELATED")


def predict(pair: dict, thresholds: tuple) -> str:
    saved = tuple(getattr(contradictions, name) for name in THRESHOLDS)
    for name, value in zip(THRESHOLDS, thresholds, strict=True):
        setattr(contradictions, name, value)
    try:
        return relate(pair["sa"], pair["sb"], subject_similarity=pair["similarity"]).value
    finally:
        for name, value in zip(THRESHOLDS, saved, strict=True):
            setattr(contradictions, name, value)


def scores(pairs: list[dict], predicted: list[str]) -> dict[str, tuple[float, float, int]]:
    result = {}
    for label in LABELS:
        tp = sum(1 for p, y in zip(pairs, predicted, strict=True) if p["label"] == label and y == label)
        fp = sum(1 for p, y in zip(pairs, predicted, strict=True) if p["label"] != label and y == label)
        support = sum(1 for p in pairs if p["label"] == label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / support if support else 0.0
        result[label] = (precision, recall, support)
    return result


def f_beta(precision: float, recall: float, beta: float) -> float:
    weight = beta * beta
    return (1 + weight) * precision * recall / (weight * precision + recall) if precision + recall else 0.0


def macro_f1(table: dict[str, tuple[float, float, int]]) -> float:
    return sum(f_beta(p, r, 1.0) for p, r, _ in table.values()) / len(table)


def print_table(title: str, pairs: list[dict], thresholds: tuple) -> None:
    predicted = [predict(pair, thresholds) for pair in pairs]
    table = scores(pairs, predicted)
    print(f"\n{title} ({len(pairs)} pairs; {describe(thresholds)})")
    print(f"  {'label':<14}{'precision':>10}{'recall':>8}{'n':>6}")
    for label, (precision, recall, support) in table.items():
        print(f"  {label:<14}{precision:>10.3f}{recall:>8.3f}{support:>6}")
    print(f"  macro F1 {macro_f1(table):.3f}")
    for lang in ("en", "pt"):
        subset = [(p, y) for p, y in zip(pairs, predicted, strict=True) if p["lang"] == lang]
        found = sum(1 for p, y in subset if p["label"] == "contradiction" and y == "contradiction")
        total = sum(1 for p, _ in subset if p["label"] == "contradiction")
        print(f"  {lang}: contradictions found {found}/{total}")
    confusion = Counter((p["label"], y) for p, y in zip(pairs, predicted, strict=True) if p["label"] != y)
    if confusion:
        errors = ", ".join(f"{a}->{b} {n}" for (a, b), n in confusion.most_common())
        print(f"  errors (label -> predicted): {errors}")


def describe(thresholds: tuple) -> str:
    weights, probability, duplicate, related = thresholds
    shown = ", ".join(f"{w:.2f}" for w in weights)
    return (
        f"weights ({shown}), probability {probability:.2f}, duplicate {duplicate:.2f}, related {related:.2f}"
    )


def _best(candidates, objective) -> float:
    return max(candidates, key=lambda value: (round(objective(value), 9), -value))


def fit_logistic(features: list[list[float]], labels: list[bool], *, l2: float = 1e-2) -> tuple[float, ...]:
    """Plain logistic regression by gradient descent (a bias and one weight per feature)."""
    import numpy as np

    x = np.c_[np.ones(len(features)), np.array(features)]
    y = np.array(labels, dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(5000):
        p = 1 / (1 + np.exp(-x @ w))
        w -= 0.5 * (x.T @ (p - y) / len(y) + l2 * np.r_[0, w[1:]])
    return tuple(round(float(value), 2) for value in w)


FEATURES = {
    "cosine": lambda p: p["similarity"],
    "trigram overlap": lambda p: contradictions.text_overlap(p["sa"], p["sb"]),
    "word overlap": lambda p: word_overlap(p["sa"].subject, p["sb"].subject),
    "full-text cosine": lambda p: p["full_similarity"],
}
SHIPPED_FEATURES = ("cosine", "trigram overlap")  # what contradiction_probability computes


def word_overlap(a: str, b: str) -> float:
    """Jaccard overlap of content words cut to five letters (a feature tried, not shipped)."""
    words_a, words_b = ({w[:5] for w in re.findall(r"(?<!#)\b\w{4,}", fold(t))} for t in (a, b))
    return len(words_a & words_b) / max(len(words_a | words_b), 1)


def _differ(pairs: list[dict]) -> list[dict]:
    """The pairs the model decides: values that differ, names that do not conflict."""
    return [
        p
        for p in pairs
        if contradictions.compare_values(p["sa"], p["sb"]) is Relation.CONTRADICTION
        and not contradictions.names_conflict(p["sa"], p["sb"])
    ]


def _fit_and_threshold(train: list[dict], names: tuple[str, ...]) -> tuple[tuple[float, ...], float]:
    differ = _differ(train)
    weights = fit_logistic(
        [[FEATURES[name](p) for name in names] for p in differ],
        [p["label"] == "contradiction" for p in differ],
    )
    total = sum(1 for p in train if p["label"] == "contradiction")

    def f2(threshold: float) -> float:
        flagged = [p for p in differ if _probability(weights, names, p) >= threshold]
        hits = sum(1 for p in flagged if p["label"] == "contradiction")
        return f_beta(hits / len(flagged) if flagged else 0.0, hits / total, 2.0)

    return weights, _best([step / 100 for step in range(5, 96)], f2)


def _probability(weights: tuple[float, ...], names: tuple[str, ...], pair: dict) -> float:
    z = weights[0] + sum(w * FEATURES[name](pair) for w, name in zip(weights[1:], names, strict=True))
    return 1 / (1 + math.exp(-z))


def compare_features(train: list[dict]) -> None:
    """Leave one training family out at a time: fit on the others, flag the one left out."""
    print("\nContradiction features, leave-one-family-out on the train families (F2, precision, recall):")
    families = sorted({p["family"] for p in train})
    for names in [("cosine",), *(("cosine", other) for other in list(FEATURES)[1:])]:
        hits = flags = total = 0
        for family in families:
            rest = [p for p in train if p["family"] != family]
            held = [p for p in train if p["family"] == family]
            weights, threshold = _fit_and_threshold(rest, names)
            flagged = [p for p in _differ(held) if _probability(weights, names, p) >= threshold]
            hits += sum(1 for p in flagged if p["label"] == "contradiction")
            flags += len(flagged)
            total += sum(1 for p in held if p["label"] == "contradiction")
        precision, recall = hits / max(flags, 1), hits / total
        f2 = f_beta(precision, recall, 2.0)
        print(f"  {' + '.join(names):<28} F2 {f2:.3f}  P {precision:.3f}  R {recall:.3f}")


def choose_thresholds(train: list[dict]) -> tuple:
    grid = [step / 100 for step in range(5, 100)]
    _, _, duplicate, related = (getattr(contradictions, name) for name in THRESHOLDS)
    weights, probability = _fit_and_threshold(train, SHIPPED_FEATURES)

    def label_f(label: str, beta: float, thresholds) -> float:
        precision, recall, _ = scores(train, [predict(p, thresholds) for p in train])[label]
        return f_beta(precision, recall, beta)

    duplicate = _best(grid, lambda t: label_f("duplicate", 0.5, (weights, probability, t, related)))
    related = _best(
        [t for t in grid if t < duplicate],
        lambda t: macro_f1(scores(train, [predict(p, (weights, probability, duplicate, t)) for p in train])),
    )
    return weights, probability, duplicate, related


def candidate_recall(rows: list[dict], vectors: dict[str, list[float]]) -> None:
    """memory_add compares a new memory with the author's NEIGHBOURS nearest valid memories only. For
    each contradiction (a, b), an author holds `a`, the sibling fact of its family and one statement of
    every other family of the split (one memory per subject, as a kept-up author would): is `a` among
    the nearest to `b`, by the full texts' embeddings?"""
    from memories.contradictions import NEIGHBOURS

    rng = random.Random(7)
    print("\nContradicted memory among the k nearest of the new one (author: one memory per subject):")
    for split in ("train", "heldout"):
        for lang in ("en", "pt"):
            subset = [r for r in rows if r["split"] == split and r["lang"] == lang]
            by_family: dict[str, list[str]] = {}
            for r in subset:
                by_family.setdefault(r["family"], []).append(r["a"])
            pairs = [r for r in subset if r["label"] == "contradiction"]
            siblings = {r["family"]: r["b"] for r in subset if r["label"] == "compatible"}
            ranks = []
            for pair in pairs:
                held = [pair["a"], siblings.get(pair["family"], pair["a"])] + [
                    rng.choice(texts) for family, texts in by_family.items() if family != pair["family"]
                ]
                held = sorted(set(held), key=lambda t: -dot(vectors[pair["b"]], vectors[t]))
                ranks.append(held.index(pair["a"]) + 1)
            shown = "  ".join(
                f"k={k}: {sum(r <= k for r in ranks)}/{len(ranks)}" for k in (1, 3, NEIGHBOURS, 10)
            )
            print(f"  {split:<8} {lang}: {shown}  (shipped k={NEIGHBOURS})")


# ---- relevance floor --------------------------------------------------------------------------------


def coverages(pairs: list[tuple[str, str, str]]) -> list[float]:
    """Share of the query's lexemes in the memory, as memories/sql.py TEXT_SQL computes it."""
    import psycopg

    from config import embedded
    from memories.text_search import search_config_for

    sql = """
        SELECT (SELECT count(*) FROM unnest(tsvector_to_array(to_tsvector(%(c)s::regconfig, %(q)s))) AS l
                 WHERE l = ANY(tsvector_to_array(to_tsvector(%(c)s::regconfig, %(m)s))))::float
               / greatest(cardinality(tsvector_to_array(to_tsvector(%(c)s::regconfig, %(q)s))), 1)
    """
    with psycopg.connect(embedded.ensure_postgres(name="pg", database="postgres")) as conn:
        return [
            _scalar(conn.execute(sql, {"c": search_config_for(lang), "q": query, "m": text}).fetchone())
            for query, text, lang in pairs
        ]


def _scalar(row: tuple | None) -> float:
    if row is None:  # an aggregate always returns a row
        raise RuntimeError("the coverage query returned no row")
    return float(row[0])


def relevance_rows(rows: list[dict], vectors: dict[str, list[float]]) -> list[dict]:
    memories = {(r[key], r["family"], r["lang"], r["split"]) for r in rows for key in ("a", "b")}
    queries = {(r["query"], r["family"], r["lang"], r["split"]) for r in rows}
    candidates = [
        {"query": q, "text": text, "lang": lang, "split": split, "relevant": family == q_family}
        for q, q_family, lang, split in queries
        for text, family, m_lang, m_split in memories
        if m_lang == lang and m_split == split
    ]
    for candidate, coverage in zip(
        candidates, coverages([(c["query"], c["text"], c["lang"]) for c in candidates]), strict=True
    ):
        cosine = dot(vectors[candidate["query"]], vectors[candidate["text"]])
        candidate["relevance"] = 0.7 * max(cosine, 0.0) + 0.3 * coverage
    return candidates


def floor_table(candidates: list[dict]) -> float:
    def kept(split: str, floor: float, relevant: bool) -> float:
        group = [c for c in candidates if c["split"] == split and c["relevant"] == relevant]
        return sum(1 for c in group if c["relevance"] >= floor) / len(group)

    print("\nRelevance floor: share of relevant memories kept / of irrelevant ones cut")
    print(f"  {'floor':>6}  {'train kept':>10} {'train cut':>10}  {'held-out kept':>13} {'held-out cut':>12}")
    for step in range(0, 55, 5):
        floor = step / 100
        print(
            f"  {floor:>6.2f}  {kept('train', floor, True):>10.3f} {1 - kept('train', floor, False):>10.3f}"
            f"  {kept('heldout', floor, True):>13.3f} {1 - kept('heldout', floor, False):>12.3f}"
        )
    chosen = max(
        (step / 100 for step in range(100) if kept("train", step / 100, True) >= KEEP_RELEVANT),
        default=0.0,
    )
    print(
        f"  chosen on train (keeps >= {KEEP_RELEVANT:.0%} of relevant): {chosen:.2f}; held-out at it: kept "
        f"{kept('heldout', chosen, True):.3f}, cut {1 - kept('heldout', chosen, False):.3f}"
    )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=["local", "hashing"], default="local")
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    for row in rows:
        row["sa"] = read_statement(row["a"], language=row["lang"])
        row["sb"] = read_statement(row["b"], language=row["lang"])
    embedder = embedder_for(args.embedder)
    texts = [s for r in rows for s in (r["sa"].subject, r["sb"].subject, r["a"], r["b"], r["query"])]
    vectors = cosines(embedder, texts)
    for row in rows:
        row["similarity"] = dot(vectors[row["sa"].subject], vectors[row["sb"].subject])
        row["full_similarity"] = dot(vectors[row["a"]], vectors[row["b"]])
    train = [r for r in rows if r["split"] == "train"]
    heldout = [r for r in rows if r["split"] == "heldout"]
    print(f"{len(rows)} pairs, {embedder.model_id}: {len(train)} train, {len(heldout)} held-out")
    shipped = tuple(getattr(contradictions, name) for name in THRESHOLDS)
    print_table("Train families, shipped thresholds", train, shipped)
    print_table("Held-out families, shipped thresholds", heldout, shipped)
    compare_features(train)
    chosen = choose_thresholds(train)
    print(f"\nWhat the train families choose: {describe(chosen)}")
    if chosen != shipped:
        print_table("Held-out families, thresholds chosen on train", heldout, chosen)
    candidate_recall(rows, vectors)
    floor_table(relevance_rows(rows, vectors))


if __name__ == "__main__":
    main()
