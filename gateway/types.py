"""The gateway's public request, response, stream event and error types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.providers.base import Message

if TYPE_CHECKING:
    from tenants.models import Tenant


@dataclass
class GatewayRequest:
    tenant: Tenant
    purpose: str  # post, comment, critique, extraction, chat ...
    messages: list[Message]
    max_tokens: int | None = None  # None: the purpose's default, capped by the model
    temperature: float | None = None
    model: str | None = None  # a model alias, or a tier name as an alias ("small", "premium")
    complexity: str | None = None  # "simple" | "standard" | "complex"; estimated when None
    user_id: int | None = None
    api_key_id: int | None = None
    api_key_tokens_per_minute: int = 0  # 0: no per-key limit
    api_key_requests_per_minute: int = 0
    author_id: int | None = None
    flow_run_id: int | None = None
    step: str = ""
    # Semantic cache scope: answers are shared only within one prompt version and style profile version.
    prompt_version_id: int | None = None
    profile_version: int | None = None
    cacheable: bool = True  # False where the same request must get a fresh answer (e.g. variants)
    # False: never served from the cache (Regenerate, a reviewer's changes); the fresh answer is stored.
    cache_read: bool = True
    # Structured output: the answer must be JSON matching this schema. Adapters ask the provider to
    # constrain decoding to it (OpenAI-compatible `response_format`, which llama.cpp's server turns into
    # a grammar; a forced tool on Anthropic). The caller still validates what comes back.
    response_schema: dict | None = None
    schema_name: str = "answer"
    stop: list[str] | None = None  # stop sequences (at most four are sent)
    frequency_penalty: float | None = None  # repetition control, OpenAI's scale; ignored by Anthropic
    # The same request as a document a base model continues (completion-style). Models registered
    # with prompt format "document" get it instead of `messages`; every other model gets `messages`.
    document: str | None = None
    call_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class GatewayResponse:
    call_id: uuid.UUID
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    usage_estimated: bool
    cost: Decimal
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    cache_hit: bool
    routing: dict


@dataclass(frozen=True)
class GatewayStreamEvent:
    """`delta` carries text; `restart` tells the consumer to discard text received so far
    (the model failed mid-answer and a fallback starts over); `done` carries the response."""

    kind: str  # "delta" | "restart" | "done"
    text: str = ""
    reason: str = ""
    response: GatewayResponse | None = None


class GatewayError(Exception):
    """A call the gateway refused or could not complete; `code` and `http_status` are for callers."""

    http_status = 502

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        call_id: uuid.UUID | None = None,
        details: dict | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        if http_status is not None:
            self.http_status = http_status
        self.retry_after = retry_after
        self.call_id = call_id
        self.details = details or {}

    def as_dict(self) -> dict:
        body: dict[str, str | float | None] = {
            "code": self.code,
            "message": self.message,
            "call_id": str(self.call_id) if self.call_id else None,
        }
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 3)
        return {**body, **self.details}
