from __future__ import annotations

import json
import math
import re
import threading

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from gateway import embeddings
from gateway.embeddings import (
    EmbeddingError,
    OpenAICompatibleEmbedder,
    build_embedder,
    embeddings_config,
    get_embedder,
)


def _norm(vector):
    return math.sqrt(sum(x * x for x in vector))


def test_the_local_model_makes_normalised_384_dimension_vectors_that_capture_meaning(local_embedder):
    vectors = local_embedder.embed(
        ["Keep posts under 200 words.", "Posts should stay below 200 words.", "Our office is in Lisbon."]
    )
    assert [len(vector) for vector in vectors] == [384, 384, 384]
    assert all(_norm(vector) == pytest.approx(1.0, abs=1e-4) for vector in vectors)
    same, different = (sum(a * b for a, b in zip(vectors[0], other, strict=True)) for other in vectors[1:])
    assert same > 0.8 > 0.3 > different


def test_the_embedder_is_built_once_per_process_even_under_concurrency(local_embedder):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(get_embedder())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {id(embedder) for embedder in seen} == {id(local_embedder)}


def test_the_hashing_backend_is_deterministic_and_normalised():
    with override_settings(MAESTRO_EMBEDDINGS={"backend": "hashing"}):
        embedder = get_embedder()
        assert embedder.model_id == "hashing/384"
        first, again = embedder.embed(["Quorvex pricing"]), embedder.embed(["Quorvex pricing"])
    assert first == again
    assert _norm(first[0]) == pytest.approx(1.0)


def test_a_misconfigured_backend_fails_loudly():
    unknown = "Unknown MAESTRO_EMBEDDINGS backend 'nope': local, openai or hashing."
    with pytest.raises(ImproperlyConfigured, match=f"^{re.escape(unknown)}$"):
        build_embedder({**embeddings_config(), "backend": "nope"})
    incomplete = "MAESTRO_EMBEDDINGS needs `base_url` and `model` for the openai backend."
    with pytest.raises(ImproperlyConfigured, match=f"^{re.escape(incomplete)}$"):
        build_embedder({**embeddings_config(), "backend": "openai", "base_url": ""})
    other_model = "The local embedding backend ships all-MiniLM-L6-v2 only, not 'another-model'."
    with pytest.raises(ImproperlyConfigured, match=f"^{re.escape(other_model)}$"):
        build_embedder({**embeddings_config(), "backend": "local", "model": "another-model"})


class FakeEmbeddingsAPI:
    """An OpenAI-compatible /v1/embeddings endpoint, in process (httpx.MockTransport)."""

    def __init__(self, *, failures: list[int] | None = None, dimensions: int = 4) -> None:
        self.failures = list(failures or [])
        self.dimensions = dimensions
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/embeddings"
        assert request.headers["authorization"] == "Bearer sk-test"
        if self.failures:
            return httpx.Response(
                self.failures.pop(0), json={"error": "try later"}, headers={"retry-after": "0"}
            )
        body = json.loads(request.content)
        self.requests.append(body)
        data = [
            {"index": i, "embedding": [float(len(text)), 1.0] + [0.0] * (self.dimensions - 2)}
            for i, text in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"data": list(reversed(data)), "model": body["model"]})


def _openai(api: FakeEmbeddingsAPI, **kwargs) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder(
        model="text-embedding-3-small",
        base_url="https://embeddings.example.test/v1",
        api_key="sk-test",
        dimensions=api.dimensions,
        transport=httpx.MockTransport(api),
        **kwargs,
    )


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(embeddings.time, "sleep", lambda seconds: None)


def test_the_openai_backend_batches_orders_and_normalises(no_sleep):
    api = FakeEmbeddingsAPI()
    embedder = _openai(api, batch_size=2)
    vectors = embedder.embed(["a", "bbb", "cc"])
    assert [len(body["input"]) for body in api.requests] == [2, 1]
    assert api.requests[0]["dimensions"] == 4
    assert vectors[1] == pytest.approx([3 / math.sqrt(10), 1 / math.sqrt(10), 0.0, 0.0])
    assert all(_norm(vector) == pytest.approx(1.0) for vector in vectors)
    assert embedder.model_id == "openai/text-embedding-3-small/4"


def test_the_openai_backend_retries_rate_limits_and_server_errors(no_sleep):
    api = FakeEmbeddingsAPI(failures=[429, 503])
    assert len(_openai(api).embed(["hello"])) == 1


def test_the_openai_backend_gives_up_on_client_errors_and_says_no_retry_helps(no_sleep):
    with pytest.raises(EmbeddingError, match=r"^Embedding endpoint answered 400: .*try later") as caught:
        _openai(FakeEmbeddingsAPI(failures=[400])).embed(["hello"])
    assert caught.value.retryable is False
    with pytest.raises(EmbeddingError, match=r"^Embedding endpoint answered 503: .*try later") as caught:
        _openai(FakeEmbeddingsAPI(failures=[503] * 4)).embed(["hello"])
    assert caught.value.retryable is True
