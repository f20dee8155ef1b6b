"""Training router parameters: a prior from labels of both tiers, a tenant's residual from its reviews.

- `train_prior`: public labels (MMLU) where both tiers' quality is known for every request. Each head is
  an L2 logistic regression on the standardised [embedding, cheap features].
- `train_residual`: a tenant's review labels, where only the tier that wrote a draft has a label. Each
  head fits a residual on top of the base's logit (the base is the shared prior), so a head with few
  labels stays close to the prior, and a head with none is the prior's.
- `out_of_fold_scores`: scores of every request by a model that never saw its group (subject), for
  the calibration curve an artefact carries and the dial reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from gateway.router_model.features import FEATURE_NAMES
from gateway.router_model.fitting import Scaler, fit_logistic
from gateway.router_model.model import FORMAT, HEADS, RouterModel, head_params

# Chosen by subject-grouped cross-validation on the training subjects only (bench/bench_router.py).
PRIOR_ALPHA = 0.03
PRIOR_SCORE = "enough"
PRIOR_CHEAP_FEATURES = True
# Not measurable on public labels (a tenant's reviews are the data): strong enough that a few dozen
# labels move the router only where they agree, and the shadow evaluation guards promotion anyway.
RESIDUAL_ALPHA = 0.05


def train_prior(
    x: np.ndarray,
    weak: np.ndarray,
    strong: np.ndarray,
    *,
    embedding_model: str,
    dimensions: int,
    alpha: float = PRIOR_ALPHA,
    score: str = PRIOR_SCORE,
    cheap_features: bool = PRIOR_CHEAP_FEATURES,
) -> dict[str, Any]:
    """Both heads on labels of both tiers. Without `cheap_features` the prior reads the embedding only
    (the cheap features' weights are 0, for a tenant's residual to learn)."""
    scaler = Scaler.fit(x)
    z = scaler.transform(x)
    used = z if cheap_features else z[:, :dimensions]
    heads = {}
    for name, target in (("weak", weak), ("strong", strong)):
        fit = fit_logistic(used, target, alpha=alpha)
        coef = np.concatenate([fit.coef, np.zeros(z.shape[1] - used.shape[1])])
        heads[name] = head_params(coef, fit.intercept)
    return {
        "format": FORMAT,
        "embedding_model": embedding_model,
        "dimensions": dimensions,
        "feature_names": list(FEATURE_NAMES),
        "scaler": {"mean": _rounded(scaler.mean), "scale": _rounded(scaler.scale)},
        "heads": heads,
        "score": score,
        "base": None,
    }


def train_residual(
    base: dict[str, Any],
    x: np.ndarray,
    quality: np.ndarray,
    arm: Sequence[str],
    *,
    alpha: float = RESIDUAL_ALPHA,
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """A tenant's parameters: `base` (a whole artefact's params) plus a residual per head that has labels."""
    base_model = RouterModel(base)
    mean = np.asarray(base["scaler"]["mean"], dtype=np.float64)
    scale = np.asarray(base["scaler"]["scale"], dtype=np.float64)
    z = (x - mean) / scale
    arms = np.asarray(arm)
    heads = {}
    for name in HEADS:
        rows = arms == name
        if not rows.any():
            continue
        fit = fit_logistic(
            z[rows],
            quality[rows],
            alpha=alpha,
            offset=base_model.logits(name, x[rows]),
            sample_weight=None if sample_weight is None else sample_weight[rows],
        )
        heads[name] = head_params(fit.coef, fit.intercept)
    return {
        "format": FORMAT,
        "embedding_model": base["embedding_model"],
        "dimensions": base["dimensions"],
        "feature_names": list(FEATURE_NAMES),
        "scaler": base["scaler"],
        "heads": heads,
        "score": base.get("score", PRIOR_SCORE),
        "base": base,
    }


def group_folds(groups: Sequence[str], folds: int) -> np.ndarray:
    """Fold number per row; every row of a group in the same fold (groups spread by a hash of the name)."""
    names = sorted(set(groups), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    fold_of = {name: index % folds for index, name in enumerate(names)}
    return np.array([fold_of[g] for g in groups])


def out_of_fold_scores(
    x: np.ndarray,
    weak: np.ndarray,
    strong: np.ndarray,
    groups: Sequence[str],
    *,
    embedding_model: str,
    dimensions: int,
    folds: int = 5,
    **options: Any,
) -> np.ndarray:
    fold = group_folds(groups, folds)
    scores = np.zeros(len(x))
    for k in range(folds):
        held = fold == k
        if not held.any() or held.all():
            continue
        params = train_prior(
            x[~held],
            weak[~held],
            strong[~held],
            embedding_model=embedding_model,
            dimensions=dimensions,
            **options,
        )
        scores[held] = RouterModel(params).scores(x[held])
    return scores


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 8) for v in values]
