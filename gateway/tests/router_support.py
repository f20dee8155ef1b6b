"""Helpers for the learned router's tests: a tiny synthetic labelled set and a prior trained on it.

Tests run with the `hashing` embedder (deterministic, microseconds): similar words give similar
vectors, which is all a synthetic set needs. The full MMLU training and evaluation are in
bench/bench_router.py, never in the test suite.
"""

from __future__ import annotations

import random

import numpy as np

from gateway.embeddings import get_embedder
from gateway.models import RouterPool
from gateway.router_model import store
from gateway.router_model.features import FEATURE_NAMES
from gateway.router_model.prior import train_public_prior
from gateway.router_model.public_labels import LabelledPrompt
from gateway.router_model.training import train_prior
from tenants.context import cross_tenant_access, tenant_scope

EASY_WORDS = ["thanks", "hello", "great", "post", "share", "team", "coffee", "monday", "welcome", "congrats"]
HARD_WORDS = ["integral", "theorem", "proof", "eigenvalue", "regression", "derivative", "lemma", "matrix"]
SUBJECTS = ["chat", "news", "sales", "maths", "physics", "statistics"]


def easy_text(rng: random.Random) -> str:
    return "Write a note: " + " ".join(rng.choice(EASY_WORDS) for _ in range(8))


def hard_text(rng: random.Random) -> str:
    return "Solve: " + " ".join(rng.choice(HARD_WORDS) for _ in range(8)) + " = ?"


def synthetic_items(n: int = 240, seed: int = 7) -> list[LabelledPrompt]:
    """Easy requests (two in three) the weak model answers; hard ones only the strong model does
    (10% of the weak labels flipped)."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        hard = i % 3 == 0
        text = hard_text(rng) if hard else easy_text(rng)
        weak = 0.0 if hard else 1.0
        if rng.random() < 0.1:
            weak = 1.0 - weak
        subject = SUBJECTS[(i // 3) % len(SUBJECTS)]  # every subject has easy and hard requests
        items.append(LabelledPrompt(subject=subject, prompt=text, weak=weak, strong=1.0))
    return items


def install_prior(items: list[LabelledPrompt] | None = None):
    """Train the public prior on the synthetic set and make it active."""
    with cross_tenant_access("tests: the shared router prior"):
        return train_public_prior(items or synthetic_items())


def make_router_artefact(*, tenant, status: str = "rejected"):
    """A tenant-owned router artefact (tiny random parameters) for pages that take its id."""
    embedder = get_embedder()
    rng = np.random.default_rng(tenant.pk)
    x = rng.normal(size=(40, embedder.dimensions + len(FEATURE_NAMES)))
    weak = (x[:, 0] > 0).astype(float)
    dims = embedder.dimensions
    params = train_prior(x, weak, np.ones(40), embedding_model=embedder.model_id, dimensions=dims)
    with tenant_scope(tenant):
        return store.artefact_save(
            tenant_id=tenant.pk,
            pool=RouterPool.TENANT,
            params=params,
            method="test",
            training={"base_pool": "public"},
            evaluation={},
            status=status,
        )
