"""What the gateway asks of a model beyond its messages (structured output, stop sequences,
repetition control, a document for base models) and per-model concurrency slots, over real HTTP to
the fake provider, with real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

import gateway
from gateway.models import LLMModel, Trace
from gateway.providers import anthropic, openai
from gateway.providers.base import ChatRequest, Message, ProviderConfig, Timeouts
from gateway.providers.openai import OpenAIProvider
from gateway.providers.sse import ServerSentEvent
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

SCHEMA = {
    "type": "object",
    "properties": {
        "passes": {"type": "boolean"},
        "issues": {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 2},
    },
    "required": ["passes", "issues"],
    "additionalProperties": False,
}


def _chat(**fields) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", "Judge this.")], max_tokens=100, **fields)


# ---- adapters ------------------------------------------------------------------------------------


def test_openai_body_asks_for_the_schema_with_stops_and_a_frequency_penalty():
    body = openai.request_body(
        _chat(
            response_schema=SCHEMA,
            schema_name="verdict",
            stop=["###", "a", "b", "c", "d"],
            frequency_penalty=0.3,
        ),
        stream=True,
    )
    assert body["response_format"] == {
        "type": "json_schema",
        # maxLength is outside OpenAI's strict subset: sent as a (non-strict) schema, which
        # llama.cpp's server still turns into a grammar
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": False},
    }
    assert body["stop"] == ["###", "a", "b", "c"]  # OpenAI takes at most four
    assert body["frequency_penalty"] == 0.3
    assert "prompt" not in body


def test_openai_strict_mode_is_used_when_the_schema_allows_it():
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    assert openai.request_body(_chat(response_schema=schema), stream=False)["response_format"]["json_schema"][
        "strict"
    ]


def test_a_document_goes_to_the_completions_api_as_its_prompt():
    request = _chat(prompt="LinkedIn posts by Ana.\n\nTopic: onboarding\n\n", stop=["###"])
    body = openai.request_body(request, stream=False)
    assert body["prompt"].startswith("LinkedIn posts by Ana.")
    assert "messages" not in body
    provider = OpenAIProvider(
        ProviderConfig(kind="openai", base_url="http://127.0.0.1:1/v1"), httpx.AsyncClient()
    )
    http_request = provider._http_request(request, Timeouts(), stream=False)
    assert http_request.url.path == "/v1/completions"
    assert provider._http_request(_chat(), Timeouts(), stream=False).url.path == "/v1/chat/completions"


def test_the_completions_answer_and_stream_are_read_like_chat():
    payload = {"choices": [{"index": 0, "text": "A post.", "finish_reason": "stop"}], "usage": None}
    result = openai.parse_completion(payload, httpx.Headers(), _chat())
    assert (result.text, result.finish_reason) == ("A post.", "stop")
    decoder = openai.OpenAIStreamDecoder(())
    events = decoder.feed(
        ServerSentEvent(event="message", data=json.dumps({"choices": [{"index": 0, "text": "Hi"}]}))
    )
    assert [event.text for event in events] == ["Hi"]


def test_anthropic_gets_the_schema_as_a_forced_tool_and_its_input_is_the_answer():
    body = anthropic.request_body(
        _chat(response_schema=SCHEMA, schema_name="verdict", stop=["###"]), stream=False
    )
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "verdict"}
    assert body["stop_sequences"] == ["###"]
    payload = {
        "content": [{"type": "tool_use", "name": "verdict", "input": {"passes": True, "issues": []}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    result = anthropic.parse_message(payload, httpx.Headers(), _chat(response_schema=SCHEMA))
    assert json.loads(result.text) == {"passes": True, "issues": []}
    decoder = anthropic.AnthropicStreamDecoder(())
    delta = {
        "type": "content_block_delta",
        "delta": {"type": "input_json_delta", "partial_json": '{"passes": '},
    }
    assert [e.text for e in decoder.feed(ServerSentEvent(event="message", data=json.dumps(delta)))] == [
        '{"passes": '
    ]


# ---- through the gateway -------------------------------------------------------------------------


@pytest.fixture
def models_a(tenant_a, fake_provider):
    return register_fake_models(tenant_a, fake_provider.base_url)


def _complete(request, config=None):
    return run_with_runtime(lambda rt: gateway.complete(request, runtime=rt), config)


@pytest.mark.django_db
def test_a_structured_request_reaches_the_provider_and_a_constraining_server_answers_valid_json(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(text="I think it is fine, mostly", constrained=True))
    response = _complete(request_for(tenant_a, purpose="critique", response_schema=SCHEMA, stop=["###"]))
    answer = json.loads(response.text)  # what an unconstrained model said would not parse
    assert set(answer) == {"passes", "issues"}
    (sent,) = fake_provider.requests()
    assert sent.body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent.body["stop"] == ["###"]


@pytest.mark.django_db
def test_a_base_model_gets_the_document_and_a_chat_model_the_messages(tenant_a, models_a, fake_provider):
    with tenant_scope(tenant_a):
        LLMModel.objects.filter(alias="standard-a").update(prompt_format="document")
    fake_provider.set_behaviour(Behaviour(text="We call every customer. It works.\n###\nTopic: more"))
    document = "LinkedIn posts by our CEO.\n\nTopic: onboarding\n\n"  # no personal data: sent as written
    base = _complete(request_for(tenant_a, document=document, stop=["###"]))
    chat = _complete(request_for(tenant_a, "Write a comment.", purpose="comment", document=document))
    assert base.model == "standard-a"
    assert base.text == "We call every customer. It works.\n"  # the server stopped at "###"
    assert chat.model == "small-a"
    first, second = fake_provider.requests()
    assert first.path == "/v1/completions"
    assert first.body["prompt"] == document
    assert second.path == "/v1/chat/completions"
    assert second.body["messages"][0]["content"] == "Write a comment."


# ---- concurrency slots ---------------------------------------------------------------------------

SLOW_ANSWER = Behaviour(text=" ".join(["word"] * 12), tokens_per_second=20)  # about 0.6 s each


def _concurrent(tenant, count: int, config):
    """`count` streamed calls at once, as flows make them (a stream's first-token timeout is short)."""

    async def one(request, runtime):
        response = None
        async for event in gateway.stream(request, runtime=runtime):  # to the end: the trace follows "done"
            response = event.response if event.kind == "done" else response
        return response

    async def scenario(runtime):
        requests = [request_for(tenant, f"Post number {n} about onboarding.") for n in range(count)]
        return await asyncio.gather(*(one(r, runtime) for r in requests))

    return run_with_runtime(scenario, config)


@pytest.mark.django_db
def test_calls_beyond_a_models_slots_wait_in_line_instead_of_timing_out(tenant_a, models_a, fake_provider):
    """The fake serves one request at a time, like a llama.cpp server with one slot: a call sent
    while it is busy waits inside the server and its first-token timeout (at most 1 s here) runs
    out. With the model's concurrency set to 1 the gateway holds the calls back instead."""
    with tenant_scope(tenant_a):
        LLMModel.objects.filter(alias="standard-a").update(max_concurrency=1)
    fake_provider.set_slots(1, model="fake-standard")
    fake_provider.set_behaviour(SLOW_ANSWER, model="fake-standard")
    started = time.perf_counter()
    responses = _concurrent(tenant_a, 4, fast_config())
    elapsed = time.perf_counter() - started
    assert [r.model for r in responses] == ["standard-a"] * 4  # no fallback needed
    with tenant_scope(tenant_a):
        traces = list(Trace.objects.filter(pk__in=[r.call_id for r in responses]))
    attempts = [attempt for trace in traces for attempt in trace.attempts]
    assert [a["status"] for a in attempts] == ["ok"] * 4  # not one timeout
    assert max(a["queued_s"] for a in attempts) >= 1.0  # the last one waited for three others
    assert fake_provider.concurrency()["peak"]["fake-standard"] == 1
    assert elapsed >= 4 * 0.5


@pytest.mark.django_db
def test_a_call_that_waits_too_long_for_a_slot_moves_on_to_the_next_model(tenant_a, models_a, fake_provider):
    with tenant_scope(tenant_a):
        LLMModel.objects.filter(alias="standard-a").update(max_concurrency=1)
    fake_provider.set_behaviour(
        Behaviour(text=" ".join(["word"] * 30), tokens_per_second=20), model="fake-standard"
    )
    responses = _concurrent(tenant_a, 2, fast_config(slot_wait_seconds=0.3))
    assert sorted(r.model for r in responses) == ["standard-a", "standard-b"]
    with tenant_scope(tenant_a):
        moved = Trace.objects.get(pk=next(r.call_id for r in responses if r.model == "standard-b"))
    assert moved.attempts[0]["status"] == "slots_busy"
    assert "busy for 0.3s" in moved.attempts[0]["error"]
