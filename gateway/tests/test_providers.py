"""Provider adapters against the fake provider over loopback HTTP: answers, errors, timeouts, streams."""

from __future__ import annotations

import re
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from gateway.providers import build_provider
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import (
    ChatRequest,
    ErrorKind,
    Message,
    ProviderConfig,
    ProviderError,
    StreamEventKind,
    Timeouts,
    Usage,
)
from gateway.providers.errors import ErrorDetail, kind_for, parse_retry_after
from gateway.providers.openai import OpenAIProvider
from gateway.providers.transport import join_url
from testing.fake_provider import Behaviour
from testing.fake_wire import ERRORS

pytestmark = pytest.mark.anyio

KINDS = ["openai", "anthropic"]
API_KEY = "sk-test-0123456789-secret"
FAST = Timeouts(connect=1.0, first_token=2.0, between_chunks=2.0, total=5.0)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def http_client():
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def provider_for(kind, fake, client, **config):
    return build_provider(
        ProviderConfig(kind=kind, base_url=fake.base_url, api_key=API_KEY, **config), client
    )


def chat(text="hello there world", *, max_tokens=50, model="fake-model"):
    messages = [Message("system", "You write short answers."), Message("user", text)]
    return ChatRequest(model=model, messages=messages, max_tokens=max_tokens)


async def collect(provider, request, timeouts=FAST):
    return [event async for event in provider.stream(request, timeouts)]


async def failure_of(call, *, match: str):
    """Await `call`, expecting a ProviderError whose message matches `match` (a regex searched in
    "<kind>: <message>"); also return how long it took."""
    started = time.perf_counter()
    with pytest.raises(ProviderError, match=match) as caught:
        await call
    return caught.value, time.perf_counter() - started


async def stream_failure(provider, request, timeouts=FAST, *, match: str):
    return await failure_of(collect(provider, request, timeouts), match=match)


def http_error(error: str, provider_kind: str) -> str:
    """The message of the ProviderError for the fake's `error` preset, as `provider_kind` words it
    (an echoed API key scrubbed)."""
    fake = ERRORS[error]
    named = fake.anthropic_type if provider_kind == "anthropic" else fake.openai_type or fake.openai_code
    text = fake.message.format(key="[redacted]")
    return rf"^{ERROR_KINDS[error]}: HTTP {fake.status} {re.escape(f'{named}: {text}'.strip())}$"


def refusal(provider_kind: str) -> str:
    reason = {
        "openai": "the provider's content filter stopped the answer",
        "anthropic": "the model refused to answer",
    }[provider_kind]
    return f"^content_refused: {re.escape(reason)}$"


def timed_out(deadline: str, seconds: float) -> str:
    return f"^timeout: {re.escape(f'{deadline} timeout ({seconds:g}s) exceeded')}$"


# ---- successful answers ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_complete_returns_text_usage_and_finish_reason(kind, fake_provider, http_client):
    result = await provider_for(kind, fake_provider, http_client).complete(chat(), FAST)

    assert result.text == "Echo: hello there world"
    assert result.usage == Usage(input_tokens=7, output_tokens=4)
    assert result.finish_reason == "stop"
    assert result.model == "fake-model"
    assert result.provider_request_id


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_yields_deltas_then_usage_then_exactly_one_done(kind, fake_provider, http_client):
    events = await collect(provider_for(kind, fake_provider, http_client), chat())

    deltas = [event.text for event in events if event.kind == StreamEventKind.DELTA]
    assert "".join(deltas) == "Echo: hello there world"
    assert len(deltas) == 4
    assert [event.usage for event in events if event.kind == StreamEventKind.USAGE] == [Usage(7, 4)]
    assert [event.kind for event in events[-2:]] == [StreamEventKind.USAGE, StreamEventKind.DONE]
    assert [event.kind for event in events].count(StreamEventKind.DONE) == 1
    assert events[-1].finish_reason == "stop"


@pytest.mark.parametrize("kind", KINDS)
async def test_reply_cut_by_max_tokens_finishes_with_length(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(output_tokens=30))
    provider = provider_for(kind, fake_provider, http_client)

    result = await provider.complete(chat(max_tokens=5), FAST)
    events = await collect(provider, chat(max_tokens=5))

    assert (result.finish_reason, result.usage.output_tokens) == ("length", 5)
    assert events[-1].finish_reason == "length"


async def test_openai_request_carries_bearer_key_and_asks_for_stream_usage(fake_provider, http_client):
    await collect(provider_for("openai", fake_provider, http_client), chat())

    (request,) = fake_provider.requests()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"][0] == {"role": "system", "content": "You write short answers."}


async def test_openai_without_api_key_sends_no_authorization_header(fake_provider, http_client):
    config = ProviderConfig(kind="openai", base_url=fake_provider.base_url)
    await OpenAIProvider(config, http_client).complete(chat(), FAST)

    assert "authorization" not in fake_provider.requests()[0].headers


async def test_extra_headers_replace_the_adapters_own_whatever_their_case(fake_provider, http_client):
    extra = {"Authorization": "Bearer gateway-token", "X-Tenant": "acme"}
    await provider_for("openai", fake_provider, http_client, extra_headers=extra).complete(chat(), FAST)

    (request,) = fake_provider.requests()
    assert request.headers["authorization"] == "Bearer gateway-token"
    assert request.headers["x-tenant"] == "acme"


async def test_anthropic_request_moves_system_prompt_to_top_level(fake_provider, http_client):
    await provider_for("anthropic", fake_provider, http_client).complete(chat(), FAST)

    (request,) = fake_provider.requests()
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "You write short answers."
    assert request.body["messages"] == [{"role": "user", "content": "hello there world"}]


async def test_azure_style_base_url_keeps_its_query_string_and_api_key_header(fake_provider, http_client):
    base_url = f"{fake_provider.url}/openai/deployments/gpt-4o?api-version=2024-06-01"
    config = ProviderConfig(kind="openai", base_url=base_url, extra_headers={"api-key": "azure-secret"})
    result = await build_provider(config, http_client).complete(chat(), FAST)

    (request,) = fake_provider.requests()
    assert result.text.startswith("Echo:")
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert request.query == "api-version=2024-06-01"
    assert request.headers["api-key"] == "azure-secret"
    assert "authorization" not in request.headers


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_usage_gives_no_usage_event_but_done(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(include_usage=False))
    provider = provider_for(kind, fake_provider, http_client)

    events = await collect(provider, chat())
    result = await provider.complete(chat(), FAST)

    assert StreamEventKind.USAGE not in [event.kind for event in events]
    assert events[-1].kind == StreamEventKind.DONE
    assert result.usage is None


# ---- errors ------------------------------------------------------------------------------------

ERROR_KINDS = {
    "rate_limited": ErrorKind.RATE_LIMITED,
    "server_error": ErrorKind.SERVER_ERROR,
    "unavailable": ErrorKind.OVERLOADED,
    "overloaded": ErrorKind.OVERLOADED,
    "context_too_long": ErrorKind.CONTEXT_TOO_LONG,
    "unauthorized": ErrorKind.AUTH,
    "forbidden": ErrorKind.AUTH,
    "bad_request": ErrorKind.BAD_REQUEST,
    "not_found": ErrorKind.BAD_REQUEST,
    "content_policy": ErrorKind.CONTENT_REFUSED,
}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("error", "expected"), ERROR_KINDS.items(), ids=list(ERROR_KINDS))
async def test_http_errors_map_to_error_kinds(error, expected, kind, stream, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(error=error))
    provider = provider_for(kind, fake_provider, http_client)
    call = collect(provider, chat()) if stream else provider.complete(chat(), FAST)

    failure, _ = await failure_of(call, match=http_error(error, kind))

    assert failure.kind == expected
    assert failure.status is not None


@pytest.mark.parametrize("kind", KINDS)
async def test_api_key_echoed_by_the_provider_never_reaches_the_error(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(error="unauthorized"))

    failure, _ = await failure_of(
        provider_for(kind, fake_provider, http_client).complete(chat(), FAST),
        match=http_error("unauthorized", kind),
    )

    assert failure.kind == ErrorKind.AUTH
    assert API_KEY not in str(failure)
    assert API_KEY not in failure.message
    assert "[redacted]" in failure.message


async def test_azure_key_in_extra_headers_is_also_scrubbed(fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(error="forbidden"))
    config = ProviderConfig(
        kind="openai", base_url=fake_provider.base_url, extra_headers={"api-key": API_KEY}
    )

    # The fake echoes the key it received (api-key included) in its error message, as real
    # providers sometimes do: the adapter must scrub it.
    failure, _ = await failure_of(
        build_provider(config, http_client).complete(chat(), FAST),
        match=r"^auth: HTTP 403 permission_error: Not allowed for key \[redacted\]$",
    )

    assert API_KEY not in str(failure)


@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_seconds_is_read_from_a_429(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(error="rate_limited", retry_after="7"))

    failure, _ = await failure_of(
        provider_for(kind, fake_provider, http_client).complete(chat(), FAST),
        match=http_error("rate_limited", kind),
    )

    assert (failure.kind, failure.status, failure.retry_after) == (ErrorKind.RATE_LIMITED, 429, 7.0)
    assert failure.retryable


async def test_retry_after_http_date_is_read_as_seconds_from_now(fake_provider, http_client):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake_provider.set_behaviour(Behaviour(error="rate_limited", retry_after=when))

    failure, _ = await failure_of(
        provider_for("openai", fake_provider, http_client).complete(chat(), FAST),
        match=http_error("rate_limited", "openai"),
    )

    assert 25 <= failure.retry_after <= 30


async def test_retry_after_ms_wins_over_retry_after(fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(error="rate_limited", retry_after="2", retry_after_ms=1500))

    failure, _ = await failure_of(
        provider_for("openai", fake_provider, http_client).complete(chat(), FAST),
        match=http_error("rate_limited", "openai"),
    )

    assert failure.retry_after == 1.5


@pytest.mark.parametrize("kind", KINDS)
async def test_content_refusal_is_content_refused(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(refusal=True, text="I cannot"))
    provider = provider_for(kind, fake_provider, http_client)

    completed, _ = await failure_of(provider.complete(chat(), FAST), match=refusal(kind))
    streamed, _ = await stream_failure(provider, chat(), match=refusal(kind))

    assert completed.kind == streamed.kind == ErrorKind.CONTENT_REFUSED
    assert streamed.partial_text == "I cannot"
    assert not streamed.retryable


@pytest.mark.parametrize(("kind", "error", "expected", "message"), [
    ("anthropic", "overloaded", ErrorKind.OVERLOADED, "error event overloaded_error: Overloaded"),
    ("anthropic", "rate_limited", ErrorKind.RATE_LIMITED, "error event rate_limit_error: Rate limit reached"),
    ("openai", "server_error", ErrorKind.SERVER_ERROR, "error event server_error: The server had an error"),
])  # fmt: skip
async def test_error_event_mid_stream_keeps_the_partial_text(
    kind, error, expected, message, fake_provider, http_client
):
    fake_provider.set_behaviour(Behaviour(output_tokens=6, error=error, error_after_chunks=2))

    failure, _ = await stream_failure(
        provider_for(kind, fake_provider, http_client), chat(), match=f"^{expected}: {re.escape(message)}$"
    )

    assert failure.kind == expected
    assert failure.partial_text == "lorem ipsum "


async def test_refused_connection_is_a_connection_error(http_client):
    with socket.socket() as probe:  # a port that was free a moment ago, so nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ProviderConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY)

    failure, _ = await failure_of(
        build_provider(config, http_client).complete(chat(), FAST),
        match=r"^connection: request: ConnectError: ",
    )

    assert failure.kind == ErrorKind.CONNECTION
    assert failure.retryable


# ---- broken streams -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_cut_mid_way_is_interrupted_with_partial_text(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(output_tokens=8, cut_after_chunks=3))

    failure, _ = await stream_failure(
        provider_for(kind, fake_provider, http_client),
        chat(),
        match=r"^stream_interrupted: stream: RemoteProtocolError: ",
    )

    assert failure.kind == ErrorKind.STREAM_INTERRUPTED
    assert failure.partial_text == "lorem ipsum dolor "
    assert failure.retryable


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_ending_cleanly_without_end_marker_is_interrupted(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(output_tokens=3, end_marker=False))

    failure, _ = await stream_failure(
        provider_for(kind, fake_provider, http_client),
        chat(),
        match=f"^stream_interrupted: {re.escape('the stream ended before its end marker')}$",
    )

    assert failure.kind == ErrorKind.STREAM_INTERRUPTED
    assert failure.partial_text == "lorem ipsum dolor"


# ---- timeouts: each fires near its own value ---------------------------------------------------


def timeouts(**values):
    return Timeouts(**({"connect": 1.0, "first_token": 5.0, "between_chunks": 5.0, "total": 10.0} | values))


def assert_near(elapsed, limit):
    assert limit * 0.9 <= elapsed < limit + 0.5, f"took {elapsed:.3f}s for a {limit}s limit"


@pytest.mark.parametrize("kind", KINDS)
async def test_first_token_timeout_when_the_provider_never_answers(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(hang=True))
    provider = provider_for(kind, fake_provider, http_client)

    failure, elapsed = await failure_of(
        provider.complete(chat(), timeouts(first_token=0.2)), match=timed_out("first_token", 0.2)
    )

    assert failure.kind == ErrorKind.TIMEOUT
    assert "first_token" in failure.message
    assert_near(elapsed, 0.2)


@pytest.mark.parametrize("kind", KINDS)
async def test_first_token_timeout_when_headers_come_but_no_token(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(first_token_delay=3))
    provider = provider_for(kind, fake_provider, http_client)

    failure, elapsed = await stream_failure(
        provider, chat(), timeouts(first_token=0.2, between_chunks=0.1), match=timed_out("first_token", 0.2)
    )

    assert failure.kind == ErrorKind.TIMEOUT
    assert "first_token" in failure.message
    assert_near(elapsed, 0.2)


@pytest.mark.parametrize("kind", KINDS)
async def test_between_chunks_timeout_when_the_stream_hangs_mid_way(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(output_tokens=10, hang_after_chunks=2))
    provider = provider_for(kind, fake_provider, http_client)

    failure, elapsed = await stream_failure(
        provider, chat(), timeouts(between_chunks=0.2), match=timed_out("between_chunks", 0.2)
    )

    assert failure.kind == ErrorKind.TIMEOUT
    assert "between_chunks" in failure.message
    assert failure.partial_text == "lorem ipsum "
    assert_near(elapsed, 0.2)


@pytest.mark.parametrize("kind", KINDS)
async def test_total_timeout_stops_a_slow_but_steady_stream(kind, fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(output_tokens=40, tokens_per_second=20))
    provider = provider_for(kind, fake_provider, http_client)

    failure, elapsed = await stream_failure(
        provider, chat(), timeouts(between_chunks=0.2, total=0.5), match=timed_out("total", 0.5)
    )

    assert failure.kind == ErrorKind.TIMEOUT
    assert "total" in failure.message
    assert failure.partial_text.startswith("lorem ipsum")
    assert_near(elapsed, 0.5)


async def test_total_timeout_bounds_a_non_streamed_call(fake_provider, http_client):
    fake_provider.set_behaviour(Behaviour(headers_delay=3))
    provider = provider_for("openai", fake_provider, http_client)

    failure, elapsed = await failure_of(
        provider.complete(chat(), timeouts(first_token=5, total=0.3)), match=timed_out("total", 0.3)
    )

    assert (failure.kind, "total" in failure.message) == (ErrorKind.TIMEOUT, True)
    assert_near(elapsed, 0.3)


# ---- pure helpers ------------------------------------------------------------------------------


def test_build_provider_chooses_the_adapter_by_kind():
    client = httpx.AsyncClient()
    assert isinstance(build_provider(ProviderConfig("openai", "http://x/v1"), client), OpenAIProvider)
    assert isinstance(build_provider(ProviderConfig("anthropic", "http://x/v1"), client), AnthropicProvider)


def test_build_provider_rejects_an_unknown_kind_by_name():
    with pytest.raises(ValueError, match=r"unknown provider kind 'gemini'.*anthropic, openai"):
        build_provider(ProviderConfig("gemini", "http://x/v1"), httpx.AsyncClient())


@pytest.mark.parametrize(("base_url", "expected"), [
    ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
    ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
    ("https://x.openai.azure.com/openai/deployments/d?api-version=2024-06-01",
     "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01"),
])  # fmt: skip
def test_join_url_appends_the_path_before_the_query(base_url, expected):
    assert str(join_url(base_url, "chat/completions")) == expected


def test_retry_after_parsing_handles_dates_past_dates_and_garbage():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:42 GMT"}, now=now) == 42
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now=now) == 0
    assert parse_retry_after({"retry-after": "soon"}, now=now) is None
    assert parse_retry_after({"retry-after": "nan"}, now=now) is None
    assert parse_retry_after({}, now=now) is None


@pytest.mark.parametrize(("status", "detail", "expected"), [
    (400, ErrorDetail(message="prompt is too long: 210000 tokens > 200000"), ErrorKind.CONTEXT_TOO_LONG),
    (400, ErrorDetail(code="context_length_exceeded"), ErrorKind.CONTEXT_TOO_LONG),
    (413, ErrorDetail(message="maximum context length is 8192 tokens"), ErrorKind.CONTEXT_TOO_LONG),
    (413, ErrorDetail(type="request_too_large"), ErrorKind.BAD_REQUEST),
    (422, ErrorDetail(message="bad field"), ErrorKind.BAD_REQUEST),
    (404, ErrorDetail(), ErrorKind.BAD_REQUEST),
    (400, ErrorDetail(code="content_filter"), ErrorKind.CONTENT_REFUSED),
    (500, ErrorDetail(type="overloaded_error"), ErrorKind.OVERLOADED),
    (502, ErrorDetail(), ErrorKind.SERVER_ERROR),
    (429, ErrorDetail(code="insufficient_quota"), ErrorKind.AUTH),
    (408, ErrorDetail(), ErrorKind.TIMEOUT),
])  # fmt: skip
def test_kind_for_reads_status_and_error_body(status, detail, expected):
    assert kind_for(status, detail) == expected
