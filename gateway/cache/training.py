"""Fit the cache's verifier on generated pairs and write verifier.json.

    .venv/bin/python gateway/cache/training.py [--seed 13] [--per-family 40] [--corpus DIR]
                                               [--embeddings-cache FILE]

Pairs come from pairs.py, split by template family. First the IDF of every content word is counted
over a corpus (idf.json): the training families' requests, and the paragraphs of the text files in
--corpus (articles; any language the cache serves). The verifier is then fitted on the `train`
families only (L2-regularised logistic regression, traps weighted up because a false hit costs more
than a miss), on the pairs `decision.decide` leaves to it. Its cutoff and how far below the tenant's
threshold it is asked (its `gate`) are chosen by cross-validation over the training families (each
fold's families scored by a verifier fitted on the other folds'): the cutoff is the lowest
probability that keeps those out-of-fold false hits at or under 0.5%, the gate the one that then
serves the most true matches. The held-out families are never used to choose anything.

The pairs themselves are written to bench/data/cache_pairs_{train,heldout}.jsonl for cache_eval and
the benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "bench" / "data"
TRAP_WEIGHT = 4.0
L2 = 1e-4
MAX_FALSE_HITS = 0.005


def embed_pairs(pairs: list[dict], cache_file: Path | None = None) -> None:
    """Each pair's cosine similarity; with `cache_file`, vectors already computed are reused."""
    from gateway.embeddings import get_embedder

    vectors: dict[str, np.ndarray] = {}
    if cache_file and cache_file.exists():
        with np.load(cache_file) as stored:
            vectors = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    texts = sorted(({p["a"] for p in pairs} | {p["b"] for p in pairs}) - set(vectors))
    if texts:
        vectors.update(zip(texts, np.array(get_embedder().embed(texts), dtype=np.float32), strict=True))
        if cache_file:
            names = sorted(vectors)
            np.savez(cache_file, texts=np.array(names), vectors=np.array([vectors[t] for t in names]))
    for pair in pairs:
        pair["similarity"] = float(np.dot(vectors[pair["a"]], vectors[pair["b"]]))


def count_idf(requests: list[str], corpus: Path | None) -> dict:
    """IDF (log((N + 1) / (df + 1)) + 1) of content words, a request or a paragraph per document."""
    from gateway.cache.structure import parse

    documents = list(requests)
    if corpus and corpus.is_dir():
        for path in sorted(corpus.glob("*.txt")):
            documents += [p for p in path.read_text(encoding="utf-8").splitlines() if len(p.split()) >= 5]
    frequency: dict[str, int] = {}
    for document in documents:
        for word in {t.word for t in parse(document).content}:
            frequency[word] = frequency.get(word, 0) + 1
    n = len(documents)
    words = {w: round(math.log((n + 1) / (df + 1)) + 1, 4) for w, df in sorted(frequency.items()) if df > 1}
    return {"documents": n, "unseen": round(math.log(n + 1) + 1, 4), "words": words}


def feature_rows(pairs: list[dict], threshold: float) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Features of the pairs that `decide` leaves to the verifier, their labels, and those pairs."""
    from gateway.cache import decision

    rows, labels, kept = [], [], []
    for pair in pairs:
        if pair["a"].lower() == pair["b"].lower():
            continue
        if not decision.needs_verifier(
            pair["a"], pair["b"], similarity=pair["similarity"], threshold=threshold
        ):
            continue
        alignment = decision._alignment(pair["a"], pair["b"])
        rows.append(decision.pair_features(pair["a"], pair["b"], alignment, pair["similarity"] - threshold))
        labels.append(1.0 if pair["same_answer"] else 0.0)
        kept.append(pair)
    return np.array(rows), np.array(labels), kept


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    sample_weight = np.where(y > 0, 1.0, TRAP_WEIGHT)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
        eps = 1e-9
        value = -np.sum(sample_weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) / len(y)
        value += L2 * float(w[1:] @ w[1:])
        grad = x.T @ (sample_weight * (p - y)) / len(y)
        grad[1:] += 2 * L2 * w[1:]
        return value, grad

    # More similar never means less likely the same: the similarity's weight is kept >= 0, so a
    # tenant's higher threshold always serves fewer pairs.
    bounds = [(None, None), (0.0, None)] + [(None, None)] * (x.shape[1] - 2)
    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x


def choose_cutoff(outcomes: np.ndarray, y: np.ndarray) -> float:
    """The lowest cutoff whose false hits over all training traps stay within MAX_FALSE_HITS, from
    out-of-fold outcomes (`cross_validate`): a verifier scored on the traps it was fitted on rates
    them lower than it will rate the traps of families it has not seen."""
    allowed = math.floor(MAX_FALSE_HITS * int(np.sum(y == 0))) - int(np.sum((y == 0) & (outcomes == SERVED)))
    trap_scores = np.sort(outcomes[(y == 0) & (outcomes >= 0) & (outcomes <= 1)])[::-1]
    if allowed < 0:
        return 1.0
    if len(trap_scores) <= allowed:
        return 0.5
    return float(min(1.0, max(0.5, trap_scores[allowed] + 1e-6)))


THRESHOLD = 0.78  # TenantPolicy.cache_threshold's default
# No further than 0.25 below the tenant's threshold: the threshold must keep its meaning, a tenant at
# 1.0 is served paraphrases from 0.75 in similarity only.
CANDIDATE_GATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
GOAL_HITS, GOAL_FALSE_HITS = 0.80, 0.01


def rates(pairs: list[dict], threshold: float) -> tuple[float, float]:
    """Hit and false-hit rates of `decision.decide` (exact repeats served first, as the lookup does)."""
    from gateway.cache import decision

    served = [
        p["a"].lower() == p["b"].lower()
        or decision.decide(p["a"], p["b"], similarity=p["similarity"], threshold=threshold).ok
        for p in pairs
    ]
    hits = [s for s, p in zip(served, pairs, strict=True) if p["same_answer"]]
    false = [s for s, p in zip(served, pairs, strict=True) if not p["same_answer"]]
    return float(np.mean(hits)), float(np.mean(false))


def fit_at(train: list[dict], threshold: float, gate: float) -> list[float]:
    """The verifier's weights for one threshold and gate, fitted on `train`."""
    write_weights({"weights": [0.0] * len(_features()), "cutoff": 1.0, "gate": gate})
    x, y, _ = feature_rows(train, threshold)
    return [float(w) for w in fit(x, y)]


SERVED, REFUSED = 2.0, -1.0  # outcomes of pairs decided without the verifier


def outcomes(pairs: list[dict], threshold: float) -> np.ndarray:
    """Per pair, the verifier's probability if `decide` asks it, else SERVED or REFUSED (exact
    repeats and near duplicates are served, refusals refused). The verifier in verifier.json must
    have cutoff 0, so that every pair it is asked about comes back with its score."""
    from gateway.cache import decision

    values = []
    for p in pairs:
        if p["a"].lower() == p["b"].lower():
            values.append(SERVED)
            continue
        verdict = decision.decide(p["a"], p["b"], similarity=p["similarity"], threshold=threshold)
        if verdict.score is not None:
            values.append(verdict.score)
        else:
            values.append(SERVED if verdict.ok else REFUSED)
    return np.array(values)


def cross_validate(train: list[dict], gate: float, folds: int = 4) -> np.ndarray:
    """Out-of-fold outcomes: each fold's families decided by a verifier fitted on the other folds'."""
    families = sorted({p["family"] for p in train})
    fold_of = {family: index % folds for index, family in enumerate(families)}
    values = np.zeros(len(train))
    for fold in range(folds):
        fitted = [p for p in train if fold_of[p["family"]] != fold]
        scored = [k for k, p in enumerate(train) if fold_of[p["family"]] == fold]
        write_weights({"weights": fit_at(fitted, THRESHOLD, gate), "cutoff": 0.0, "gate": gate})
        values[scored] = outcomes([train[k] for k in scored], THRESHOLD)
    return values


def _features() -> tuple[str, ...]:
    from gateway.cache import decision

    return decision.FEATURES


def choose_gate(train: list[dict], folds: int = 4) -> tuple[float, float, list[dict]]:
    """The gate with the most true matches served within GOAL_FALSE_HITS, and its cutoff, as estimated
    by cross-validation over the training families: for each gate, out-of-fold outcomes give the
    cutoff (`choose_cutoff`) and the hits and false hits at it, how the choice would do on families
    it has not seen. Only training families are looked at; among gates within the false-hit goal,
    the most hits win."""
    y = np.array([1.0 if p["same_answer"] else 0.0 for p in train])
    curve = []
    for gate in CANDIDATE_GATES:
        values = cross_validate(train, gate, folds)
        cutoff = choose_cutoff(values, y)
        served = values >= cutoff
        point = {
            "gate": gate,
            "cutoff": round(cutoff, 5),
            "hit_rate": round(float(np.mean(served[y == 1])), 4),
            "false_hit_rate": round(float(np.mean(served[y == 0])), 4),
        }
        curve.append(point)
        print(
            f"  gate {gate:.2f}: cutoff {cutoff:.3f}, cross-validated hits {point['hit_rate']:.1%}, "
            f"false hits {point['false_hit_rate']:.1%}"
        )
    within = [c for c in curve if c["false_hit_rate"] <= GOAL_FALSE_HITS] or curve[:1]
    best = max(within, key=lambda c: (c["hit_rate"], -c["gate"]))
    return best["gate"], best["cutoff"], curve


def write_weights(fields: dict) -> None:
    from gateway.cache import decision

    payload = {"features": list(decision.FEATURES), **fields}
    decision.WEIGHTS_FILE.write_text(json.dumps(payload, indent=2) + "\n")
    decision.verifier.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--per-family", type=int, default=40)
    parser.add_argument("--corpus", type=Path, help="a folder of .txt articles for the IDF counts")
    parser.add_argument("--embeddings-cache", type=Path, help="an .npz file of vectors to reuse")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from gateway.cache import decision, pairs

    generated = pairs.generate(seed=args.seed, per_family=args.per_family)
    embed_pairs(generated, args.embeddings_cache)
    train = [p for p in generated if p["split"] == "train"]
    requests = sorted({p["a"] for p in train})
    decision.IDF_FILE.write_text(json.dumps(count_idf(requests, args.corpus), ensure_ascii=False) + "\n")
    decision.idf.cache_clear()
    heldout = [p for p in generated if p["split"] == "heldout"]
    for name, subset in (("train", train), ("heldout", heldout)):
        path = DATA_DIR / f"cache_pairs_{name}.jsonl"
        with path.open("w") as out:
            for p in subset:
                row = {k: p[k] for k in ("a", "b", "same_answer", "category", "lang", "family")}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    threshold = THRESHOLD
    gate, cutoff, curve = choose_gate(train)
    weights = fit_at(train, threshold, gate)
    write_weights(
        {
            "weights": [round(w, 5) for w in weights],
            "cutoff": round(cutoff, 5),
            "gate": gate,
            "threshold": threshold,
            "cross_validated_curve": curve,
            "seed": args.seed,
            "pairs": {"train": len(train), "heldout": len(heldout)},
            "heldout_families": sorted({p["family"] for p in heldout}),
        }
    )
    hits, false = rates(train, threshold)
    print(f"gate chosen on the training families: {gate:.2f} (hits {hits:.1%}, false hits {false:.1%})")


if __name__ == "__main__":
    main()
