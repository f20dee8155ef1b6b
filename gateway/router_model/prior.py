"""The cold start: a shared prior trained on public labels where both tiers were judged per request.

Its calibration curve (what the dial reads until a tenant has traffic) is out-of-fold: every request
is scored by a model trained without its subject, and contaminated prompts are left out of the curve.
The artefact's parameters are then fitted on every request given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.catalog import forget_catalog
from gateway.embeddings import get_embedder
from gateway.models import ArtefactStatus, RouterArtefact, RouterPool
from gateway.router_model import store
from gateway.router_model.corpus import feature_rows
from gateway.router_model.evaluation import random_apgr, routing_curve
from gateway.router_model.public_labels import STRONG_COLUMN, WEAK_COLUMN, LabelledPrompt, labelled_texts
from gateway.router_model.training import PRIOR_ALPHA, out_of_fold_scores, train_prior

METHOD = "logistic-2head"


@dataclass(frozen=True)
class PriorTraining:
    params: dict
    training: dict
    evaluation: dict


def prior_from_labels(
    items: list[LabelledPrompt],
    *,
    cache_dir: Path | str | None = None,
    alpha: float = PRIOR_ALPHA,
    folds: int = 5,
) -> PriorTraining:
    embedder = get_embedder()
    texts = labelled_texts(items)
    _, x = feature_rows(texts, ["chat"] * len(items), cache_dir=cache_dir)
    weak = np.array([i.weak for i in items])
    strong = np.array([i.strong for i in items])
    subjects = [i.subject for i in items]
    oof = out_of_fold_scores(
        x,
        weak,
        strong,
        subjects,
        embedding_model=embedder.model_id,
        dimensions=embedder.dimensions,
        folds=folds,
        alpha=alpha,
    )
    clean = np.array([not i.contaminated for i in items])
    curve = routing_curve(oof[clean], weak[clean], strong[clean])
    params = train_prior(
        x, weak, strong, embedding_model=embedder.model_id, dimensions=embedder.dimensions, alpha=alpha
    )
    training = {
        "source": "RouteLLM MMLU labels (Apache-2.0)",
        "weak_model": WEAK_COLUMN,
        "strong_model": STRONG_COLUMN,
        "requests": len(items),
        "subjects": sorted(set(subjects)),
        "alpha": alpha,
        "base_pool": RouterPool.PUBLIC,
    }
    evaluation = {
        "calibration": {"kind": "held-out labels", **curve.as_dict()},
        "protocol": f"{folds}-fold cross-validation grouped by subject; contaminated prompts excluded",
        "apgr": curve.apgr,
        "random_apgr": random_apgr(weak[clean], strong[clean]),
        "quality_at_50": curve.quality_at(0.5),
    }
    return PriorTraining(params=params, training=training, evaluation=evaluation)


def train_public_prior(
    items: list[LabelledPrompt], *, cache_dir: Path | str | None = None, activate: bool = True, note: str = ""
) -> RouterArtefact:
    """Train and store the public prior (callers hold cross-tenant access: it is a shared row)."""
    trained = prior_from_labels(items, cache_dir=cache_dir)
    artefact = store.artefact_save(
        tenant_id=None,
        pool=RouterPool.PUBLIC,
        params=trained.params,
        method=METHOD,
        training=trained.training,
        evaluation=trained.evaluation,
        status=ArtefactStatus.ACTIVE if activate else ArtefactStatus.CANDIDATE,
        note=note or "cold start from public labels",
    )
    forget_catalog()
    return artefact
