"""The vocabulary every provider adapter speaks: requests, results, stream events, errors.

Adapters (openai.py, anthropic.py) translate one HTTP API into these types. The
gateway never sees a provider's raw JSON or status codes, only `ProviderError`
kinds that say whether trying again can help.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum

import httpx


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class ChatRequest:
    model: str  # the provider's own model name
    messages: list[Message]
    max_tokens: int
    temperature: float | None = None
    stop: list[str] | None = None
    # Constrained decoding: the answer must be JSON matching this schema (OpenAI-compatible servers
    # get `response_format: json_schema`, which llama.cpp turns into a grammar; Anthropic a forced tool).
    response_schema: dict | None = None
    schema_name: str = "answer"
    frequency_penalty: float | None = None  # repetition control (OpenAI's scale, -2 to 2)
    # A base model continues a document: sent as a completion prompt instead of `messages`
    # (OpenAI-compatible `/completions`); adapters without a completions API ignore it.
    prompt: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    estimated: bool = False  # True when the provider did not report usage and we counted ourselves


@dataclass
class ChatResult:
    text: str
    usage: Usage | None
    finish_reason: str | None  # "stop", "length", "content_filter", ...
    model: str
    provider_request_id: str | None = None


class StreamEventKind(StrEnum):
    DELTA = "delta"  # a piece of text
    USAGE = "usage"  # token counts (OpenAI sends them in a last chunk; Anthropic at start and end)
    DONE = "done"  # the provider's end marker was seen; nothing follows


@dataclass(frozen=True)
class StreamEvent:
    kind: StreamEventKind
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429; retry_after from the Retry-After header when given
    OVERLOADED = "overloaded"  # 503/529 or the provider says so
    SERVER_ERROR = "server_error"  # other 5xx
    TIMEOUT = "timeout"  # connect, first token, gap between chunks, or total
    CONNECTION = "connection"  # refused, reset, DNS
    STREAM_INTERRUPTED = "stream_interrupted"  # the stream ended without its end marker
    CONTEXT_TOO_LONG = "context_too_long"  # the prompt does not fit the model's window
    CONTENT_REFUSED = "content_refused"  # safety refusal / content filter
    BAD_REQUEST = "bad_request"  # 400/404/422 for other reasons
    AUTH = "auth"  # 401/403


RETRYABLE_KINDS = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.STREAM_INTERRUPTED,
    }
)


class ProviderError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.partial_text = partial_text  # text received before a stream broke

    @property
    def retryable(self) -> bool:
        """Can the same request succeed later (same model, after a wait)?"""
        return self.kind in RETRYABLE_KINDS


@dataclass(frozen=True)
class Timeouts:
    """Separate limits so that a hung stream is caught between chunks, not only at the end."""

    connect: float = 5.0
    first_token: float = 30.0  # request sent -> first byte of the answer (or first stream event)
    between_chunks: float = 15.0  # gap between two stream events
    total: float = 120.0  # the whole call


@dataclass
class ProviderConfig:
    kind: str  # "openai" | "anthropic"
    base_url: str
    api_key: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Shared by Maestro's staff (tenant empty): the operator's own, so it may be on a private network.
    # A tenant's provider goes through the outbound-URL guard (common/net.py) on every connection.
    operator: bool = False


class Provider(ABC):
    """One adapter per HTTP API. Instances are cheap; the httpx client is shared and owned by the caller."""

    kind: str

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    @abstractmethod
    async def complete(self, request: ChatRequest, timeouts: Timeouts) -> ChatResult:
        """One non-streamed call. Raises ProviderError."""

    @abstractmethod
    def stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        """Yield events until DONE. Raises ProviderError(STREAM_INTERRUPTED) if the end marker never comes."""
