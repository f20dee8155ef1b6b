"""The learned router's decision for one request: the one function the gateway and `router_eval` call.

    verdict = score_request(model, messages=..., purpose=..., threshold=..., embedding=...)

text (first user turn) -> embedding (the process's embedder, or the one the cache lookup already
made of the same text) -> features -> the artefact's score -> `needs_strong(score, threshold)`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.embeddings import get_embedder
from gateway.router_model.features import request_features, router_text

if TYPE_CHECKING:
    from gateway.router_model.model import RouterModel


class RouterUnavailableError(Exception):
    """The artefact cannot score this process's vectors (another embedding model)."""


@dataclass(frozen=True)
class RouterVerdict:
    score: float  # P(the cheaper tier's answer is good enough)
    threshold: float
    strong: bool  # send it to the strong (premium) tier
    version: str
    scoring_ms: float  # features + score, after the embedding
    embedding_ms: float  # 0 when the embedding was shared with the cache lookup
    embedding_shared: bool

    def as_dict(self) -> dict:
        return {
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "strong": self.strong,
            "version": self.version,
            "scoring_ms": round(self.scoring_ms, 3),
            "embedding_ms": round(self.embedding_ms, 2),
            "embedding_shared": self.embedding_shared,
        }


def needs_strong(score: float, threshold: float) -> bool:
    """The threshold comparison: below it, the cheaper tier is not trusted with the request."""
    return score < threshold


def embed_router_texts(texts: list[str]) -> list[list[float]]:
    """The embedding the router reads: the process's embedder, as the semantic cache uses it."""
    return get_embedder().embed(texts)


def check_embedder(model: RouterModel) -> None:
    embedder = get_embedder()
    if model.embedding_model != embedder.model_id:
        raise RouterUnavailableError(
            f"router {model.version} was trained on {model.embedding_model} vectors; "
            f"this process embeds with {embedder.model_id}"
        )


def score_request(
    model: RouterModel,
    *,
    messages: Sequence[object],
    purpose: str,
    threshold: float,
    embedding: Sequence[float] | None = None,
    text: str | None = None,
) -> RouterVerdict:
    """Score one request and compare with the threshold. Pass `embedding` only if it is the
    embedding of `router_text(messages)` by `embed_router_texts` (the cache's, for the same text)."""
    check_embedder(model)
    text = router_text(messages) if text is None else text
    shared = embedding is not None
    started = time.perf_counter()
    if embedding is None:
        embedding = embed_router_texts([text])[0]
    embedded = time.perf_counter()
    features = request_features(text=text, purpose=purpose, embedding=embedding)
    score = model.score(features.vector)
    finished = time.perf_counter()
    return RouterVerdict(
        score=score,
        threshold=threshold,
        strong=needs_strong(score, threshold),
        version=model.version,
        scoring_ms=(finished - embedded) * 1000,
        embedding_ms=0.0 if shared else (embedded - started) * 1000,
        embedding_shared=shared,
    )
