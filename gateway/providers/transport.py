"""HTTP mechanics shared by the adapters: URLs, separate deadlines, error answers, reading streams.

httpx's own timeouts bound single socket operations; a provider that trickles bytes, or sends
keep-alive comments forever, would pass them. So each wait of a call runs under `asyncio.timeout_at`
with its own deadline, and every deadline is capped by the call's `total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from common.net import OutboundURLRefusedError
from gateway.providers.base import (
    ErrorKind,
    ProviderConfig,
    ProviderError,
    StreamEvent,
    StreamEventKind,
    Timeouts,
    Usage,
)
from gateway.providers.errors import error_from_response, error_from_transport, interrupted
from gateway.providers.sse import ServerSentEvent, iter_sse_batches

T = TypeVar("T")

_SECRET_HEADER = re.compile(r"key|auth|token|secret", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)  # a handful of providers, each with a path or two; URLs are immutable
def join_url(base_url: str, path: str) -> httpx.URL:
    """`base_url` + `path`, keeping a query string (Azure OpenAI's `?api-version=`) where it belongs."""
    base = httpx.URL(base_url)
    return base.copy_with(path=base.path.rstrip("/") + "/" + path.lstrip("/"))


def secrets_of(config: ProviderConfig) -> tuple[str, ...]:
    """Values that must never appear in an error message: the key and credential-like extra headers."""
    extra = [value for name, value in config.extra_headers.items() if _SECRET_HEADER.search(name)]
    tokens = [value.rsplit(" ", 1)[-1] for value in extra]  # "Bearer abc": a provider may echo just "abc"
    return tuple(secret for secret in (config.api_key, *extra, *tokens) if secret)


def merge_headers(own: dict[str, str], extra: dict[str, str]) -> httpx.Headers:
    """`extra` (from the config) replaces ours whatever its case: "Authorization" adds no second one."""
    headers = httpx.Headers(own)
    headers.update(extra)
    return headers


def build_post(
    client: httpx.AsyncClient,
    url: httpx.URL,
    payload: dict[str, Any],
    headers: httpx.Headers,
    timeouts: Timeouts,
) -> httpx.Request:
    # Only connecting is left to httpx: reads are bounded by the call's own deadlines (see CallClock).
    socket_timeouts = httpx.Timeout(
        connect=timeouts.connect, read=None, write=timeouts.first_token, pool=timeouts.first_token
    )
    return client.build_request("POST", url, json=payload, headers=headers, timeout=socket_timeouts)


@dataclass(frozen=True)
class Limit:
    deadline: float  # on the event loop's clock
    description: str  # said in the TIMEOUT error: which limit fired


class CallClock:
    """The deadlines of one call; the `total` deadline caps every other one."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self._loop = asyncio.get_running_loop()
        self.total_deadline = self._loop.time() + timeouts.total

    def limit(self, name: str, seconds: float) -> Limit:
        own = self._loop.time() + seconds
        if own < self.total_deadline:
            return Limit(own, f"{name} timeout ({seconds:g}s) exceeded")
        return Limit(self.total_deadline, f"total timeout ({self.timeouts.total:g}s) exceeded")

    def between_chunks(self) -> Limit:
        return self.limit("between_chunks", self.timeouts.between_chunks)


async def within(limit: Limit, awaitable: Awaitable[T], *, partial_text: str = "") -> T:
    try:
        async with asyncio.timeout_at(limit.deadline) as scope:
            return await awaitable
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderError(ErrorKind.TIMEOUT, limit.description, partial_text=partial_text) from None


class _FirstTokenWatch:
    """Restarts the wait for the answer when the request is fully written (httpx's `trace` hook):
    `connect` bounds connecting, `first_token` counts from the request sent, as documented."""

    def __init__(self, clock: CallClock) -> None:
        self.clock = clock
        timeouts = clock.timeouts
        self.limit = clock.limit("connect + first_token", timeouts.connect + timeouts.first_token)
        self.scope: asyncio.Timeout | None = None

    async def trace(self, event_name: str, info: dict[str, Any]) -> None:
        if event_name.endswith("send_request_body.complete") and self.scope is not None:
            self.limit = self.clock.limit("first_token", self.clock.timeouts.first_token)
            self.scope.reschedule(self.limit.deadline)


async def send(
    client: httpx.AsyncClient, request: httpx.Request, clock: CallClock, secrets: Iterable[str]
) -> tuple[httpx.Response, Limit]:
    """Send and wait for the response headers; also returns the first-token limit for the stream."""
    watch = _FirstTokenWatch(clock)
    request.extensions["trace"] = watch.trace
    try:
        async with asyncio.timeout_at(watch.limit.deadline) as scope:
            watch.scope = scope
            response = await client.send(request, stream=True)
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderError(ErrorKind.TIMEOUT, watch.limit.description) from None
    except httpx.TransportError as exc:
        raise error_from_transport(exc, secrets=secrets, phase="request") from exc
    except OutboundURLRefusedError as exc:  # a tenant's provider pointing inside our network
        raise ProviderError(ErrorKind.BAD_REQUEST, f"the provider's address is refused: {exc}") from exc
    return response, watch.limit


async def read_body(response: httpx.Response, limit: Limit, secrets: Iterable[str]) -> bytes:
    try:
        return await within(limit, response.aread())
    except httpx.TransportError as exc:
        raise error_from_transport(exc, secrets=secrets, phase="response body") from exc


async def raise_for_error_status(response: httpx.Response, clock: CallClock, secrets: Iterable[str]) -> None:
    if response.is_success:
        return
    body = await read_body(response, clock.between_chunks(), secrets)
    raise error_from_response(response, body, secrets=secrets)


async def post_json(
    client: httpx.AsyncClient, request: httpx.Request, clock: CallClock, secrets: Iterable[str]
) -> tuple[dict[str, Any], httpx.Headers]:
    """One non-streamed call: the decoded JSON answer and its headers, or a ProviderError."""
    response, _ = await send(client, request, clock, secrets)
    try:
        await raise_for_error_status(response, clock, secrets)
        body = await read_body(response, clock.limit("total", clock.timeouts.total), secrets)
    finally:
        await response.aclose()
    try:
        payload = json.loads(body)
    except ValueError:
        raise ProviderError(ErrorKind.SERVER_ERROR, "the provider answered invalid JSON") from None
    if not isinstance(payload, dict):
        raise ProviderError(ErrorKind.SERVER_ERROR, "the provider answered JSON that is not an object")
    return payload, response.headers


def end_of_stream_events(usage: Usage | None, finish_reason: str | None) -> list[StreamEvent]:
    """The last events of a stream: its usage (one event, when the provider reported it), then DONE."""
    done = StreamEvent(StreamEventKind.DONE, finish_reason=finish_reason)
    return [StreamEvent(StreamEventKind.USAGE, usage=usage), done] if usage is not None else [done]


class StreamDecoder(Protocol):
    """Turns one API's events into StreamEvents; raises ProviderError for error events and refusals."""

    text: str  # all text decoded so far (the partial text if the stream breaks)
    done: bool  # the end marker was seen

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]: ...


async def stream_events(
    client: httpx.AsyncClient,
    request: httpx.Request,
    clock: CallClock,
    decoder: StreamDecoder,
    secrets: Iterable[str],
) -> AsyncIterator[StreamEvent]:
    """Drive one streamed call: until the first text the wait is `first_token`, then `between_chunks`."""
    response, first_token = await send(client, request, clock, secrets)
    try:
        await raise_for_error_status(response, clock, secrets)
        async with contextlib.aclosing(iter_sse_batches(response.aiter_bytes())) as batches:
            while not decoder.done:
                limit = clock.between_chunks() if decoder.text else first_token
                batch = await _next_batch(batches, limit, decoder.text, secrets)
                items, error = _decoded(batch, decoder)
                for item in coalesced(items):
                    yield item
                if error is not None:  # after the text that came before it, as without batching
                    raise error
            await _drain(batches, clock)
    finally:
        await response.aclose()


def _decoded(
    batch: list[ServerSentEvent], decoder: StreamDecoder
) -> tuple[list[StreamEvent], ProviderError | None]:
    """The batch's events decoded, up to the end marker or an error event (returned, not raised)."""
    items: list[StreamEvent] = []
    for event in batch:
        try:
            items += decoder.feed(event)
        except ProviderError as error:
            return items, error
        if decoder.done:  # what follows the end marker is drained, not decoded
            break
    return items, None


def coalesced(items: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent text deltas of one batch as one delta: the text is the same, and each event costs a
    pass through the gateway and the caller's stream. Under load (many streams, events piling up in
    the socket) this is most of a stream's CPU; at a provider's usual pace a read holds one event."""
    merged: list[StreamEvent] = []
    for item in items:
        if merged and item.kind == StreamEventKind.DELTA and merged[-1].kind == StreamEventKind.DELTA:
            merged[-1] = StreamEvent(StreamEventKind.DELTA, text=merged[-1].text + item.text)
        else:
            merged.append(item)
    return merged


async def _next_batch(
    batches: AsyncIterator[list[ServerSentEvent]], limit: Limit, partial_text: str, secrets: Iterable[str]
) -> list[ServerSentEvent]:
    try:
        return await within(limit, anext(batches), partial_text=partial_text)
    except StopAsyncIteration:
        raise interrupted(partial_text, "the stream ended before its end marker") from None
    except httpx.TransportError as exc:
        raise error_from_transport(exc, secrets=secrets, phase="stream", partial_text=partial_text) from exc


async def _drain(batches: AsyncIterator[list[ServerSentEvent]], clock: CallClock) -> None:
    """Read what follows the end marker (the chunked terminator) so the connection goes back to the
    pool instead of being closed: keep-alive matters at a thousand concurrent streams."""
    with contextlib.suppress(ProviderError, httpx.TransportError):
        await within(clock.between_chunks(), _exhaust(batches))


async def _exhaust(batches: AsyncIterator[list[ServerSentEvent]]) -> None:
    async for _ in batches:
        pass
