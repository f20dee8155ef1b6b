"""A router artefact's parameters, and scoring a request with them (numpy only: the call path).

Parameters are plain JSON, stored in the database (`gateway.models.RouterArtefact.params`) so every
web and worker process, on every host, loads the same router; the version carries a hash of them.

    {
      "format": 1,
      "embedding_model": "local/all-MiniLM-L6-v2",   # vectors from another model mean nothing here
      "dimensions": 384,
      "feature_names": [...],                       # cheap features after the embedding
      "scaler": {"mean": [...], "scale": [...]},
      "heads": {"weak": {"coef": [...], "intercept": b}, "strong": {...}},
      "base": { ...the same shape... } | null       # a tenant's residual on top of a shared prior
    }

Each head is a logistic model of the quality one tier's answer gets: "weak" for the cheaper tier,
"strong" for premium. A head of a residual artefact adds its logit to its base's. The score is

    "enough" (the default):  1 - q_strong * (1 - q_weak)
        the probability that the cheaper tier does as well as premium (premium right and the cheaper
        tier wrong is the one case where paying for premium buys something), heads taken as independent;
    "gap":                   (1 + q_weak - q_strong) / 2, the expected quality given up by not
        paying for premium, mapped to [0, 1] (1: nothing given up);
    "weak":                  q_weak, the cheaper tier's own chance.

bench/bench_router.py compares them (and other methods); docs/router.md has the figures.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.router_model.features import FEATURE_NAMES

FORMAT = 1
HEADS = ("weak", "strong")
SCORES = ("enough", "gap", "weak")


class ArtefactError(ValueError):
    """Parameters that cannot be a router (wrong format, sizes or embedding model)."""


@dataclass(frozen=True)
class _Head:
    coef: np.ndarray
    intercept: float


@dataclass(frozen=True)
class _Layer:
    mean: np.ndarray
    scale: np.ndarray
    heads: dict[str, _Head]
    base: _Layer | None

    def logits(self, head: str, matrix: np.ndarray) -> np.ndarray:
        z = (matrix - self.mean) / self.scale
        own = self.heads.get(head)
        values = z @ own.coef + own.intercept if own is not None else np.zeros(len(matrix))
        return values + (self.base.logits(head, matrix) if self.base is not None else 0.0)

    def folded(self, head: str) -> tuple[np.ndarray, float]:
        """(weight, intercept) with `vector @ weight + intercept == logit(head, vector)`."""
        weight, intercept = np.zeros_like(self.mean), 0.0
        own = self.heads.get(head)
        if own is not None:
            weight = own.coef / self.scale
            intercept = own.intercept - float(self.mean @ weight)
        if self.base is not None:
            base_weight, base_intercept = self.base.folded(head)
            weight, intercept = weight + base_weight, intercept + base_intercept
        return weight, intercept


def content_hash(params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: the same parameters always give the same version."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class RouterModel:
    """The scoring half of an artefact: `score(vector)` is P(the cheaper tier's answer is good enough)."""

    def __init__(self, params: dict[str, Any], *, version: str = "") -> None:
        if params.get("format") != FORMAT:
            raise ArtefactError(f"Unknown router artefact format {params.get('format')!r}.")
        self.params = params
        self.version = version or content_hash(params)[:12]
        self.embedding_model = str(params["embedding_model"])
        self.dimensions = int(params["dimensions"])
        if list(params.get("feature_names", [])) != list(FEATURE_NAMES):
            raise ArtefactError("The artefact was trained on other cheap features than this code computes.")
        self.width = self.dimensions + len(FEATURE_NAMES)
        self.score_kind = str(params.get("score", "enough"))
        if self.score_kind not in SCORES:
            raise ArtefactError(f"Unknown score {self.score_kind!r}.")
        self._layer = self._parse(params)
        # The call path's form: the scaler and every layer's head folded into one weight vector and
        # intercept per head (logit = vector @ weight + intercept), so scoring a request is two dot
        # products and allocates nothing of the artefact's size.
        self._folded = {name: self._layer.folded(name) for name in HEADS}

    def _parse(self, params: dict[str, Any]) -> _Layer:
        mean = np.asarray(params["scaler"]["mean"], dtype=np.float64)
        scale = np.asarray(params["scaler"]["scale"], dtype=np.float64)
        heads = {
            name: _Head(np.asarray(head["coef"], dtype=np.float64), float(head["intercept"]))
            for name, head in params["heads"].items()
        }
        for array in (mean, scale, *(h.coef for h in heads.values())):
            if array.shape != (self.width,):
                raise ArtefactError(f"Parameter of shape {array.shape}, expected ({self.width},).")
        base = self._parse(params["base"]) if params.get("base") else None
        return _Layer(mean=mean, scale=scale, heads=heads, base=base)

    def score(self, vector: np.ndarray) -> float:
        weak = _sigmoid(self._logit("weak", vector))
        if self.score_kind == "weak":
            return weak
        strong = _sigmoid(self._logit("strong", vector))
        if self.score_kind == "gap":
            return (1.0 + weak - strong) / 2
        return 1.0 - strong * (1.0 - weak)

    def _logit(self, head: str, vector: np.ndarray) -> float:
        weight, intercept = self._folded[head]
        return float(vector @ weight) + intercept

    def quality(self, head: str, vector: np.ndarray) -> float:
        return _sigmoid(self._logit(head, vector))

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """`score` of many rows (training and evaluation; equal to scoring each row)."""
        weak = self.qualities("weak", matrix)
        if self.score_kind == "weak":
            return weak
        strong = self.qualities("strong", matrix)
        if self.score_kind == "gap":
            return (1.0 + weak - strong) / 2
        return 1.0 - strong * (1.0 - weak)

    def logits(self, head: str, matrix: np.ndarray) -> np.ndarray:
        return self._layer.logits(head, matrix)

    def qualities(self, head: str, matrix: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self._layer.logits(head, matrix)))


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def head_params(coef: np.ndarray, intercept: float) -> dict[str, Any]:
    return {"coef": [round(float(c), 8) for c in coef], "intercept": round(float(intercept), 8)}
