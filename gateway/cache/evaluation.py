"""Evaluate the cache decision on labelled pairs through the lookup the gateway runs.

Each pair gets a scope of its own (so pairs never answer each other): its `a` is stored with
`cache_store`, its `b` looked up with `cache_lookup`, at the tenant's threshold and then at each
threshold of the curve. Used by `manage.py cache_eval` and bench/bench_semantic_cache.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from gateway.cache.store import CacheScope, cache_lookup, cache_policy, cache_store
from gateway.embeddings import get_embedder
from gateway.models import SemanticCacheEntry

CURVE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.78, 0.8, 0.85, 0.9, 0.95, 1.0)
EVAL_PURPOSE = "cache_eval"


class PairsError(ValueError):
    """A pairs file that cannot be evaluated; the message names the line."""


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same_answer: bool
    category: str


def read_pairs(path: Path) -> list[Pair]:
    """One JSON object per line: {"a": str, "b": str, "same_answer": bool, "category": str}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise PairsError(f"{path}: no such file.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PairsError(f"{path}: cannot be read ({exc}).") from exc
    pairs = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            pairs.append(_pair(line, f"{path}:{number}"))
    if not pairs:
        raise PairsError(f"{path} has no pairs.")
    return pairs


def _pair(line: str, where: str) -> Pair:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PairsError(f"{where}: not JSON ({exc.msg}).") from exc
    if not isinstance(record, dict):
        raise PairsError(f"{where}: expected an object with a, b, same_answer and category.")
    missing = [k for k in ("a", "b", "same_answer", "category") if k not in record]
    if missing:
        raise PairsError(f"{where}: missing {', '.join(missing)}.")
    if not all(isinstance(record[k], str) and record[k].strip() for k in ("a", "b")):
        raise PairsError(f"{where}: a and b must be non-empty strings.")
    if not isinstance(record["same_answer"], bool):
        raise PairsError(f"{where}: same_answer must be true or false.")
    if not isinstance(record["category"], str) or not record["category"].strip():
        raise PairsError(f"{where}: category must be a non-empty string.")
    return Pair(record["a"], record["b"], record["same_answer"], record["category"].strip())


def evaluate(
    *, tenant_id: int, pairs: list[Pair], threshold: float | None = None, curve=CURVE_THRESHOLDS
) -> dict:
    """Hits and false hits at `threshold` (default: the tenant's), per category, and over `curve`.
    Leaves nothing behind: the entries it stores are deleted at the end."""
    policy = cache_policy(tenant_id)
    if not policy.enabled:
        raise PairsError("The tenant has switched the cache off: nothing could be served.")
    at = policy.threshold if threshold is None else threshold
    vectors = _embed({p.a for p in pairs} | {p.b for p in pairs})
    stored: list[int] = []
    served: list[bool] = []
    by_threshold: dict[float, list[bool]] = {t: [] for t in curve}
    try:
        for index, pair in enumerate(pairs):
            scope = CacheScope(tenant_id=tenant_id, purpose=EVAL_PURPOSE, context_digest=f"pair-{index}")
            entry = cache_store(
                scope=scope,
                request_text=pair.a,
                response_text=f"answer to pair {index}",
                model_alias="cache-eval",
                input_tokens=0,
                output_tokens=0,
                cost_micros=0,
                embedding=vectors[pair.a],
            )
            if entry is not None:
                stored.append(entry.pk)
            look = _looker(scope, pair.b, vectors[pair.b])
            served.append(look(at))
            for t in curve:
                by_threshold[t].append(look(t))
    finally:
        # Explicit tenant filter: the command runs without a tenant scope.
        SemanticCacheEntry.objects.unscoped().filter(tenant_id=tenant_id, pk__in=stored).delete()
    return report(pairs, served, threshold=at, curve={t: by_threshold[t] for t in curve})


def _looker(scope: CacheScope, text: str, vector: list[float]):
    def look(threshold: float) -> bool:
        return bool(cache_lookup(scope=scope, request_text=text, threshold=threshold, embedding=vector))

    return look


def _embed(texts: set[str]) -> dict[str, list[float]]:
    ordered = sorted(texts)
    return dict(zip(ordered, get_embedder().embed(ordered), strict=True))


def report(
    pairs: list[Pair], served: list[bool], *, threshold: float, curve: dict[float, list[bool]]
) -> dict:
    rates = _rates(pairs, served)
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # pairs, served, should hit
    for pair, hit in zip(pairs, served, strict=True):
        counts = categories[pair.category]
        counts[0] += 1
        counts[1] += hit
        counts[2] += pair.same_answer
    by_category = {
        name: {
            "n": n,
            "served": hits,
            "rate": round(hits / n, 4),
            "same_answer": True if should == n else False if should == 0 else None,
        }
        for name, (n, hits, should) in sorted(categories.items())
    }
    return {
        "n": len(pairs),
        "threshold": threshold,
        **rates,
        "by_category": by_category,
        "curve": [{"threshold": t, **_rates(pairs, hits)} for t, hits in sorted(curve.items())],
    }


def _rates(pairs: list[Pair], served: list[bool]) -> dict:
    should = [hit for pair, hit in zip(pairs, served, strict=True) if pair.same_answer]
    traps = [hit for pair, hit in zip(pairs, served, strict=True) if not pair.same_answer]
    return {
        "hit_rate": round(sum(should) / len(should), 4) if should else None,
        "false_hit_rate": round(sum(traps) / len(traps), 4) if traps else None,
    }


def format_report(result: dict) -> str:
    """The report as the command prints it: per category, then the curve."""
    lines = [
        f"{result['n']} pairs at threshold {result['threshold']:.2f}: "
        f"hits {_pct(result['hit_rate'])} of pairs that should hit, "
        f"false hits {_pct(result['false_hit_rate'])} of pairs that should not",
        "",
        f"{'category':24} {'pairs':>6} {'served':>7} {'rate':>7}  kind",
    ]
    for name, row in result["by_category"].items():
        kind = {True: "hits", False: "false hits", None: "mixed"}[row["same_answer"]]
        lines.append(f"{name:24} {row['n']:>6} {row['served']:>7} {_pct(row['rate']):>7}  {kind}")
    lines += ["", f"{'threshold':>9} {'hits':>7} {'false hits':>11}"]
    for point in result["curve"]:
        lines.append(
            f"{point['threshold']:>9.2f} {_pct(point['hit_rate']):>7} {_pct(point['false_hit_rate']):>11}"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
