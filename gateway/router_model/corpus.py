"""Labelled requests in bulk (training, `router_eval`, the bench): texts, embeddings and features
computed by the same functions as one call in the gateway, in batches, with an optional disk cache
of embeddings (MMLU's 14,042 prompts take minutes to embed on two cores)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gateway.embeddings import get_embedder
from gateway.router_model.decision import embed_router_texts
from gateway.router_model.features import feature_matrix

BATCH = 256


def embed_texts(texts: Sequence[str], *, cache_dir: Path | str | None = None) -> np.ndarray:
    """`embed_router_texts` over many texts; cached under `cache_dir` by embedder and exact texts."""
    model_id = get_embedder().model_id
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256("\x00".join([model_id, *texts]).encode()).hexdigest()[:24]
        path = Path(cache_dir) / f"router-embeddings-{digest}.npy"
        if path.exists():
            cached = np.load(path)
            if cached.shape[0] == len(texts):
                return cached
    vectors = []
    for start in range(0, len(texts), BATCH):
        vectors.extend(embed_router_texts(list(texts[start : start + BATCH])))
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, matrix)
    return matrix


def feature_rows(
    texts: Sequence[str], purposes: Sequence[str], *, cache_dir: Path | str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, features) of many router texts."""
    embeddings = embed_texts(texts, cache_dir=cache_dir)
    return embeddings, feature_matrix(texts, purposes, embeddings.astype(np.float64))
