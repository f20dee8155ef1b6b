"""The learned router on RouteLLM's MMLU labels, split by subject: method choice, held-out APGR, latency.

    python bench/bench_router.py [--mmlu DIR] [--folds 5] [--latency 2000]

1. Split: a fixed quarter of the 57 subjects (by a hash of their names, public_labels.py) is held out;
   no subject is on both sides; contaminated prompts are never evaluated on.
2. Method choice, on the training subjects only: cross-validation grouped by subject (each fold's
   subjects are unseen by its model) for logistic regression (the weak head, the gap between two
   heads, a "weak is enough" target; several penalties), a small MLP and kNN. The product's method
   and penalty are the best by cross-validated APGR; the held-out subjects play no part in it.
   Then, on the same folds, candidates aimed at unseen domains (subject fixed effects, discordant
   questions only as RouteLLM's matrix factorisation reduces to with two models, a direct
   premium-needed head, subject-demeaned gain, structure features), with APGR pooled and within
   each subject (docs/router.md: none beat the product, none ships).
3. Held-out result: the chosen method trained on all training subjects, each held-out request scored
   by `decision.score_request` (the gateway's function) — APGR, random APGR, quality at 50%.
4. Latency of `score_request` once the request is embedded (features + score + comparison), p50/p99,
   and of embedding one request, for scale.

Embeddings of the 14,042 prompts are cached in .data/bench-cache (minutes to compute on two cores).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _env

_env.setup(database="maestro_bench_router")

import numpy as np  # noqa: E402

from gateway.embeddings import get_embedder  # noqa: E402
from gateway.router_model.corpus import feature_rows  # noqa: E402
from gateway.router_model.decision import score_request  # noqa: E402
from gateway.router_model.evaluation import random_apgr, routing_curve, sweep_table  # noqa: E402
from gateway.router_model.features import messages_for_labels  # noqa: E402
from gateway.router_model.fitting import Scaler, fit_logistic  # noqa: E402
from gateway.router_model.model import RouterModel  # noqa: E402
from gateway.router_model.public_labels import labelled_texts, load_mmlu, split_by_subject  # noqa: E402
from gateway.router_model.training import (  # noqa: E402
    PRIOR_ALPHA,
    PRIOR_CHEAP_FEATURES,
    PRIOR_SCORE,
    group_folds,
    train_prior,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MMLU = ROOT.parent / "shared" / "data" / "routellm" / "mmlu"
CACHE = ROOT / ".data" / "bench-cache"
GOAL_APGR, GOAL_Q50, GOAL_P99_MS = 0.65, 0.90, 2.0
Scorer = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray
]  # x_train, weak, strong, x_test, subjects of the training rows


@dataclass(frozen=True)
class Shippable:
    """A configuration `train_prior` can ship as it is."""

    alpha: float
    score: str
    cheap_features: bool


def _logistic(config: Shippable) -> Scorer:
    def fit_and_score(x_train, weak, strong, x_test, groups):
        dims = get_embedder().dimensions
        params = train_prior(
            x_train,
            weak,
            strong,
            embedding_model="bench",
            dimensions=dims,
            alpha=config.alpha,
            score=config.score,
            cheap_features=config.cheap_features,
        )
        return RouterModel(params).scores(x_test)

    return fit_and_score


def _cheap_only(x_train, weak, strong, x_test, groups):
    dims = get_embedder().dimensions
    scaler = Scaler.fit(x_train[:, dims:])
    fit = fit_logistic(scaler.transform(x_train[:, dims:]), weak, alpha=PRIOR_ALPHA)
    return scaler.transform(x_test[:, dims:]) @ fit.coef + fit.intercept


def _sklearn(kind: str) -> Scorer:
    def fit_and_score(x_train, weak, strong, x_test, groups):
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.neural_network import MLPClassifier
        from sklearn.preprocessing import StandardScaler

        if kind == "knn":
            dims = get_embedder().dimensions
            knn = KNeighborsClassifier(n_neighbors=100, metric="cosine").fit(x_train[:, :dims], strong - weak)
            return -knn.predict(x_test[:, :dims])
        scaler = StandardScaler().fit(x_train)
        heads = []
        for target in (weak, strong):
            mlp = MLPClassifier(
                hidden_layer_sizes=(64,), alpha=1.0, early_stopping=True, random_state=0, max_iter=300
            )
            heads.append(
                mlp.fit(scaler.transform(x_train), target).predict_proba(scaler.transform(x_test))[:, 1]
            )
        return 1 - heads[1] * (1 - heads[0])

    return fit_and_score


# ---- candidates aimed at unseen domains (measured here; shipped only if cross-validation says so) ----

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
OPTION = re.compile(r"^[A-J][.)] ")


def structure_features(text: str) -> list[float]:
    """Shape that carries across domains: numbers, operators, equations, sentences, answer options."""
    lines = [line for line in text.split("\n") if line.strip()]
    options = [line for line in lines if OPTION.match(line)]
    stem = " ".join(line for line in lines if not OPTION.match(line))
    numbers = NUMBER.findall(text)
    lengths = [len(o) for o in options] or [0]
    return [
        math.log1p(len(numbers)),
        math.log1p(sum(map(text.count, "=+*/^"))),
        math.log1p(text.count("=")),
        math.log1p(len(re.findall(r"[.!?](?:\s|$)", stem)) or 1),
        math.log1p(len(stem)),
        math.log1p(float(np.mean(lengths))),
        math.log1p(max(lengths)),
        math.log1p(len(options)),
        float(np.std(lengths) / (np.mean(lengths) + 1)),
        math.log1p(max((len(n) for n in numbers), default=0)),
    ]


def _standardised(x_train, x_test):
    scaler = Scaler.fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test)


def _subject_logits(target: np.ndarray, groups: np.ndarray, prior: float = 20.0) -> np.ndarray:
    """Per training row, the logit of its subject's mean of `target` (shrunk to the overall mean):
    as an offset, the heads learn only what varies *within* a subject (subject fixed effects)."""
    overall, logits = float(target.mean()), np.zeros(len(target))
    for group in np.unique(groups):
        rows = groups == group
        p = (target[rows].sum() + prior * overall) / (rows.sum() + prior)
        logits[rows] = math.log(p / (1 - p))
    return logits


def _two_heads(alpha: float, *, within_subject: bool = False, score: str = "enough") -> Scorer:
    def fit_and_score(x_train, weak, strong, x_test, groups):
        z_train, z_test = _standardised(x_train, x_test)
        q = {}
        for name, target in (("weak", weak), ("strong", strong)):
            offset = _subject_logits(target, groups) if within_subject else None
            fit = fit_logistic(z_train, target, alpha=alpha, offset=offset)
            centre = float(offset.mean()) if offset is not None else 0.0
            q[name] = 1 / (1 + np.exp(-(z_test @ fit.coef + fit.intercept + centre)))
        if score == "gap":
            return (1 + q["weak"] - q["strong"]) / 2
        return 1 - q["strong"] * (1 - q["weak"])

    return fit_and_score


def _discordant(alpha: float, *, with_rate: bool = False) -> Scorer:
    """Trained on the questions where exactly one model is right (ties carry no routing signal):
    P(premium is the one | they disagree). With two models, RouteLLM's matrix factorisation
    sigma(w2 . ((v_strong - v_weak) * (W1 q))) is a logistic model linear in the embedding q, so this
    is that router. `with_rate` multiplies in P(they disagree) for the expected gain."""

    def fit_and_score(x_train, weak, strong, x_test, groups):
        z_train, z_test = _standardised(x_train, x_test)
        disagree = weak != strong
        fit = fit_logistic(z_train[disagree], (strong > weak)[disagree].astype(float), alpha=alpha)
        p_strong = 1 / (1 + np.exp(-(z_test @ fit.coef + fit.intercept)))
        if not with_rate:
            return 1 - p_strong
        rate = fit_logistic(z_train, disagree.astype(float), alpha=alpha)
        p_disagree = 1 / (1 + np.exp(-(z_test @ rate.coef + rate.intercept)))
        return (1 - p_disagree * (2 * p_strong - 1)) / 2

    return fit_and_score


def _premium_needed(alpha: float) -> Scorer:
    """P(premium right and the cheaper tier wrong) as one head, without the independence assumption."""

    def fit_and_score(x_train, weak, strong, x_test, groups):
        z_train, z_test = _standardised(x_train, x_test)
        fit = fit_logistic(z_train, ((strong == 1) & (weak == 0)).astype(float), alpha=alpha)
        return -(z_test @ fit.coef)

    return fit_and_score


def _demeaned_gain(alpha: float) -> Scorer:
    """Ridge regression of strong - weak minus its subject's mean: difficulty within a subject."""

    def fit_and_score(x_train, weak, strong, x_test, groups):
        z_train, z_test = _standardised(x_train, x_test)
        gain = strong - weak
        for group in np.unique(groups):
            rows = groups == group
            gain[rows] -= gain[rows].mean()
        gram = z_train.T @ z_train + alpha * len(z_train) * np.eye(z_train.shape[1])
        return -(z_test @ np.linalg.solve(gram, z_train.T @ gain))

    return fit_and_score


def _on_columns(scorer: Scorer, columns: slice) -> Scorer:
    def fit_and_score(x_train, weak, strong, x_test, groups):
        return scorer(x_train[:, columns], weak, strong, x_test[:, columns], groups)

    return fit_and_score


def domain_candidates(width: int) -> dict[str, Scorer]:
    """Run on [product features..., structure features...]; `width` is the product's feature count."""
    product, cheap = slice(0, width), slice(get_embedder().dimensions, None)
    return {
        "same, on the product features (reference)": _on_columns(_two_heads(PRIOR_ALPHA), product),
        "2 heads, subject fixed effects (within-subject)": _on_columns(
            _two_heads(PRIOR_ALPHA, within_subject=True), product
        ),
        "discordant questions only (= MF, 2 models), a=0.3": _on_columns(_discordant(0.3), product),
        "discordant only x P(disagree), a=0.3": _on_columns(_discordant(0.3, with_rate=True), product),
        "one head P(premium right & cheaper wrong)": _on_columns(_premium_needed(PRIOR_ALPHA), product),
        "ridge on subject-demeaned gain, a=0.03": _on_columns(_demeaned_gain(0.03), product),
        "+ structure features, 2 heads": _two_heads(PRIOR_ALPHA),
        "+ structure features, subject fixed effects": _two_heads(PRIOR_ALPHA, within_subject=True),
        "cheap + structure features only, 2 heads": _on_columns(_two_heads(PRIOR_ALPHA), cheap),
        "cheap + structure features only, fixed effects": _on_columns(
            _two_heads(PRIOR_ALPHA, within_subject=True), cheap
        ),
    }


def within_subject_apgr(scores, weak, strong, subjects) -> float:
    """Each subject routed as a set of its own (one domain at a time, as a tenant's traffic or a
    benchmark is), APGR averaged with the subjects' sizes as weights."""
    values, sizes = [], []
    groups = np.asarray(subjects)
    for group in np.unique(groups):
        rows = groups == group
        apgr = routing_curve(scores[rows], weak[rows], strong[rows]).apgr
        if apgr is not None:
            values.append(apgr)
            sizes.append(rows.sum())
    return float(np.average(values, weights=sizes))


def compare_domain_methods(x, structure, weak, strong, subjects, folds: int) -> None:
    print(
        f"\n## Candidates for unseen domains: the same {folds} subject-grouped folds; "
        "APGR pooled and within each subject"
    )
    print(f"{'method':52} {'APGR':>7} {'within':>7} {'q@50%':>7} {'seconds':>8}")
    wide = np.hstack([x, structure])
    for name, scorer in domain_candidates(x.shape[1]).items():
        started = time.perf_counter()
        scores = cross_validate(scorer, wide, weak, strong, subjects, folds)
        curve = routing_curve(scores, weak, strong)
        within = within_subject_apgr(scores, weak, strong, subjects)
        q50 = curve.quality_at(0.5) / curve.strong_quality
        print(
            f"{name:52} {curve.apgr or 0.0:7.4f} {within:7.4f} {q50:6.1%} "
            f"{time.perf_counter() - started:8.1f}"
        )


def candidates() -> dict[str, tuple[Scorer, Shippable | None]]:
    """name -> (scorer, the configuration if the product can ship it as is)."""
    found: dict[str, tuple[Scorer, Shippable | None]] = {}
    for alpha in (0.03, 0.1, 0.3, 1.0):
        config = Shippable(alpha, "enough", True)
        found[f"logistic 2 heads, enough, all features, a={alpha}"] = (_logistic(config), config)
    for config in (
        Shippable(0.3, "enough", False),
        Shippable(0.3, "gap", True),
        Shippable(0.3, "gap", False),
        Shippable(1.0, "gap", False),
        Shippable(0.3, "weak", True),
    ):
        features = "all features" if config.cheap_features else "embedding only"
        found[f"logistic 2 heads, {config.score}, {features}, a={config.alpha}"] = (_logistic(config), config)
    found["logistic, cheap features only, weak"] = (_cheap_only, None)
    found["MLP 64 hidden x 2 heads (sklearn), enough"] = (_sklearn("mlp"), None)
    found["kNN k=100 cosine (sklearn), mean gain"] = (_sklearn("knn"), None)
    return found


def cross_validate(scorer: Scorer, x, weak, strong, subjects, folds: int) -> np.ndarray:
    fold = group_folds(subjects, folds)
    scores = np.zeros(len(x))
    for k in range(folds):
        held = fold == k
        scores[held] = scorer(x[~held], weak[~held], strong[~held], x[held], np.asarray(subjects)[~held])
    return scores


def compare_methods(x, weak, strong, subjects, folds: int) -> Shippable:
    print(f"\n## Method choice: {folds}-fold cross-validation grouped by subject, training subjects only")
    print(f"{'method':52} {'APGR':>7} {'q@50%':>7} {'seconds':>8}")
    best: tuple[float, Shippable] | None = None
    for name, (scorer, config) in candidates().items():
        started = time.perf_counter()
        scores = cross_validate(scorer, x, weak, strong, subjects, folds)
        curve = routing_curve(scores, weak, strong)
        apgr = curve.apgr or 0.0
        q50 = curve.quality_at(0.5) / curve.strong_quality
        print(f"{name:52} {apgr:7.4f} {q50:6.1%} {time.perf_counter() - started:8.1f}")
        if config is not None and (best is None or apgr > best[0]):
            best = (apgr, config)
    assert best is not None
    chosen = best[1]
    shipped = Shippable(PRIOR_ALPHA, PRIOR_SCORE, PRIOR_CHEAP_FEATURES)
    print(f"chosen (best shippable by cross-validated APGR): {chosen}")
    print(
        f"product defaults (gateway/router_model/training.py): {shipped} "
        f"-> {'the same' if shipped == chosen else 'DIFFERENT: update training.py'}"
    )
    return chosen


def held_out(model: RouterModel, test, x_test_embeddings) -> tuple[list[float], list[float], list[float]]:
    """Score each held-out request through the gateway's function: (scores, wall ms, CPU ms per scoring)."""
    scores, elapsed, cpu = [], [], []
    for item, embedding in zip(test, x_test_embeddings, strict=True):
        vector = embedding.tolist()
        messages = messages_for_labels(item.prompt)
        started, started_cpu = time.perf_counter(), time.thread_time()
        verdict = score_request(model, messages=messages, purpose="chat", threshold=0.5, embedding=vector)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        elapsed.append((time.perf_counter() - started) * 1000)
        scores.append(verdict.score)
    return scores, elapsed, cpu


def bootstrap_apgr(scores, weak, strong, *, draws: int = 200, seed: int = 0) -> tuple[float, float]:
    """How much the held-out APGR moves with the sample: the gap it divides by is small on MMLU."""
    rng = np.random.default_rng(seed)
    score, weak_q, strong_q = np.asarray(scores), np.asarray(weak), np.asarray(strong)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, len(score), len(score))
        apgr = routing_curve(score[pick], weak_q[pick], strong_q[pick]).apgr
        if apgr is not None:
            values.append(apgr)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def report_held_out(test, test_subjects, scores) -> None:
    weak = [i.weak for i in test]
    strong = [i.strong for i in test]
    curve = routing_curve(scores, weak, strong)
    print(f"\n## Held-out subjects ({len(test_subjects)} of 57, n={len(test)}, contaminated excluded)")
    print(", ".join(test_subjects))
    print(f"weak only {curve.weak_quality:.4f}   strong only {curve.strong_quality:.4f}")
    print(f"{'threshold':>10} {'strong share':>13} {'quality':>9} {'PGR':>8}")
    for row in sweep_table(scores, weak, strong, shares=tuple(i / 10 for i in range(11))):
        pgr = "-" if row.pgr is None else f"{row.pgr:.3f}"
        print(f"{row.threshold:>10.4f} {row.strong_share:>12.1%} {row.quality:>9.4f} {pgr:>8}")
    apgr = curve.apgr or 0.0
    q50 = curve.quality_at(0.5) / curve.strong_quality
    low, high = bootstrap_apgr(scores, weak, strong)
    print(f"APGR 95% bootstrap interval (requests resampled, 200 draws): {low:.4f} .. {high:.4f}")
    print(
        f"APGR {apgr:.4f} (goal >= {GOAL_APGR}: {'met' if apgr >= GOAL_APGR else 'MISSED'})   "
        f"random routing {random_apgr(weak, strong):.4f}"
    )
    print(
        f"quality at 50% strong share {curve.quality_at(0.5):.4f} = {q50:.1%} of strong-only "
        f"(goal >= {GOAL_Q50:.0%}: {'met' if q50 >= GOAL_Q50 else 'MISSED'})"
    )


def report_latency(elapsed: list[float], cpu: list[float], sample_texts: list[str]) -> None:
    p50, p99 = _env.percentile(elapsed, 0.5), _env.percentile(elapsed, 0.99)
    print(
        f"\n## Latency of score_request after the embedding (features, score, comparison), n={len(elapsed)}"
    )
    print(
        f"p50 {p50:.3f} ms   p99 {p99:.3f} ms "
        f"(goal p99 < {GOAL_P99_MS} ms: {'met' if p99 < GOAL_P99_MS else 'MISSED'})"
    )
    print(
        f"CPU time of the same calls (thread_time; what the scoring costs without waiting for a core): "
        f"p50 {_env.percentile(cpu, 0.5):.3f} ms   p99 {_env.percentile(cpu, 0.99):.3f} ms   "
        f"(load average {' / '.join(f'{v:.1f}' for v in os.getloadavg())} over 1/5/15 min "
        f"on {os.cpu_count()} cores)"
    )
    embedder = get_embedder()
    timings = []
    for text in sample_texts:
        started = time.perf_counter()
        embedder.embed([text])
        timings.append((time.perf_counter() - started) * 1000)
    print(f"for scale, embedding one request ({embedder.model_id}): {_env.summary(timings)} (ms)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mmlu", type=Path, default=DEFAULT_MMLU)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--latency", type=int, default=2000, help="held-out requests timed (all are scored)")
    parser.add_argument("--skip-compare", action="store_true", help="use the product defaults, skip step 2")
    args = parser.parse_args()
    items = load_mmlu(args.mmlu)
    train, test, test_subjects = split_by_subject(items)
    print(
        f"MMLU labels: {len(items)} prompts, {len({i.subject for i in items})} subjects; "
        f"train {len(train)} ({len({i.subject for i in train})} subjects), held out {len(test)}"
    )
    started = time.perf_counter()
    texts = labelled_texts(items)
    embeddings, x = feature_rows(texts, ["chat"] * len(items), cache_dir=CACHE)
    print(
        f"embedded with {get_embedder().model_id} in {time.perf_counter() - started:.0f} s "
        f"(cached in {CACHE})"
    )
    index = {id(item): i for i, item in enumerate(items)}
    rows_train = np.array([index[id(i)] for i in train])
    rows_test = np.array([index[id(i)] for i in test])
    weak, strong = np.array([i.weak for i in items]), np.array([i.strong for i in items])
    subjects = [items[i].subject for i in rows_train]
    if args.skip_compare:
        chosen = Shippable(PRIOR_ALPHA, PRIOR_SCORE, PRIOR_CHEAP_FEATURES)
        print(f"\n(method comparison skipped: product defaults {chosen})")
    else:
        chosen = compare_methods(x[rows_train], weak[rows_train], strong[rows_train], subjects, args.folds)
        structure = np.array([structure_features(texts[i]) for i in rows_train])
        compare_domain_methods(
            x[rows_train], structure, weak[rows_train], strong[rows_train], subjects, args.folds
        )
    embedder = get_embedder()
    params = train_prior(
        x[rows_train],
        weak[rows_train],
        strong[rows_train],
        embedding_model=embedder.model_id,
        dimensions=embedder.dimensions,
        alpha=chosen.alpha,
        score=chosen.score,
        cheap_features=chosen.cheap_features,
    )
    scores, elapsed, cpu = held_out(RouterModel(params), test, embeddings[rows_test])
    report_held_out(test, test_subjects, scores)
    report_latency(elapsed[: args.latency], cpu[: args.latency], [t.prompt for t in test[:200]])


if __name__ == "__main__":
    main()
