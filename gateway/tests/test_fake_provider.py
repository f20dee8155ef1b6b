"""The fake provider itself: scripting order, recording, keep-alive, subprocess mode, a thousand streams."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from gateway.providers import build_provider
from gateway.providers.base import ChatRequest, Message, ProviderConfig, ProviderError, Timeouts
from testing.fake_provider import Behaviour, FakeProvider

TIMEOUTS = Timeouts(connect=1.0, first_token=2.0, between_chunks=2.0, total=5.0)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def post_chat(fake, model, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50} | extra
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, trust_env=False, timeout=5)


def reply_text(response):
    return response.json()["choices"][0]["message"]["content"]


def test_model_one_shots_come_first_then_its_standing_behaviour(fake_provider):
    fake_provider.set_behaviour(Behaviour(text="standing"), model="a")
    fake_provider.enqueue(Behaviour(text="first"), Behaviour(text="second"), model="a")

    texts = [reply_text(post_chat(fake_provider, "a")) for _ in range(3)]

    assert texts == ["first", "second", "standing"]


def test_default_behaviours_apply_to_models_without_their_own(fake_provider):
    fake_provider.set_behaviour(Behaviour(text="default"))
    fake_provider.enqueue(Behaviour(error="server_error"))
    fake_provider.set_behaviour(Behaviour(text="mine"), model="a")

    assert reply_text(post_chat(fake_provider, "a")) == "mine"
    assert post_chat(fake_provider, "b").status_code == 500
    assert reply_text(post_chat(fake_provider, "b")) == "default"


def test_requests_are_recorded_and_reset_forgets_them(fake_provider):
    post_chat(fake_provider, "a", temperature=0.5)

    (request,) = fake_provider.requests(model="a")
    assert (request.method, request.path, request.body["temperature"]) == (
        "POST",
        "/v1/chat/completions",
        0.5,
    )
    assert request.headers["content-type"] == "application/json"
    assert request.received_at <= time.time()
    fake_provider.reset()
    assert fake_provider.requests() == []


def test_models_endpoint_lists_scripted_models(fake_provider):
    fake_provider.set_behaviour(Behaviour(), model="gpt-fake")

    response = httpx.get(f"{fake_provider.base_url}/models", trust_env=False)

    assert {"fake-model", "gpt-fake"} <= {model["id"] for model in response.json()["data"]}


def test_usage_is_consistent_with_the_reply(fake_provider):
    fake_provider.set_behaviour(Behaviour(output_tokens=12))

    usage = post_chat(fake_provider, "a").json()["usage"]

    assert usage == {"prompt_tokens": 1, "completion_tokens": 12, "total_tokens": 13}


def test_an_unknown_error_name_is_refused_when_scripting():
    with pytest.raises(ValueError, match="unknown fake error 'teapot'"):
        Behaviour(error="teapot")


@pytest.mark.anyio
async def test_streams_reuse_one_kept_alive_connection():
    with FakeProvider.start() as fake:
        async with httpx.AsyncClient(trust_env=False) as client:
            provider = build_provider(ProviderConfig(kind="openai", base_url=fake.base_url), client)
            request = ChatRequest(model="m", messages=[Message("user", "hi")], max_tokens=10)
            for _ in range(5):
                _ = [event async for event in provider.stream(request, TIMEOUTS)]
        stats = fake.stats()

    assert stats["accepted"] == 2  # one for the five streams, one for the control client's stats()


@pytest.mark.anyio
async def test_a_hung_request_frees_its_connection_when_the_client_gives_up(fake_provider):
    fake_provider.set_behaviour(Behaviour(hang=True))
    open_before = fake_provider.stats()["open"]
    async with httpx.AsyncClient(trust_env=False) as client:
        provider = build_provider(ProviderConfig(kind="anthropic", base_url=fake_provider.base_url), client)
        request = ChatRequest(model="m", messages=[Message("user", "hi")], max_tokens=10)
        with pytest.raises(ProviderError, match=r"^timeout: first_token timeout \(0\.1s\) exceeded$"):
            await provider.complete(request, Timeouts(first_token=0.1))

    for _ in range(50):
        if fake_provider.stats()["open"] == open_before:
            break
        await asyncio.sleep(0.02)
    assert fake_provider.stats()["open"] == open_before


@pytest.mark.slow
def test_subprocess_mode_is_scripted_the_same_way():
    with FakeProvider.start(in_subprocess=True) as fake:
        fake.set_behaviour(Behaviour(text="from the child"))
        assert reply_text(post_chat(fake, "a")) == "from the child"
        assert fake.requests()[0].model == "a"


async def _raw_stream(port: int, body: bytes) -> bytes:
    """One streamed request over a plain socket: measures the server, not an HTTP client's pool."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\ncontent-length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    received = await reader.readuntil(b"\r\n0\r\n\r\n")
    writer.close()
    return received


@pytest.mark.slow
def test_a_thousand_concurrent_streams_with_two_seconds_latency():
    body = json.dumps({"model": "m", "messages": [], "max_tokens": 50, "stream": True}).encode()

    async def run_all(port):
        return await asyncio.gather(*(_raw_stream(port, body) for _ in range(1000)))

    with FakeProvider.start(in_subprocess=True) as fake:
        fake.set_behaviour(Behaviour(first_token_delay=2, output_tokens=10, tokens_per_second=20))
        started = time.perf_counter()
        replies = asyncio.run(run_all(int(fake.url.rsplit(":", 1)[1])))
        elapsed = time.perf_counter() - started
        stats = fake.stats()

    assert all(b"data: [DONE]" in reply for reply in replies)
    assert stats["peak"] >= 1000
    # Served one after another they would take over 2000 s; the bound leaves room for a loaded machine.
    assert elapsed < 20, f"1000 streams took {elapsed:.1f}s"
