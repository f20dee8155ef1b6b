"""What the fake provider says on the wire, in OpenAI's and Anthropic's formats.

A `Reply` is decided once per request (tokens, usage, finish reason); each API renders it as a
JSON body or as SSE events. Errors are named presets rendered the way each provider sends them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    id: str
    model: str
    tokens: tuple[str, ...]  # one per stream chunk; "".join(tokens) is the text
    input_tokens: int
    finish_reason: str  # OpenAI's vocabulary: "stop", "length", "content_filter"
    include_usage: bool

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class FakeError:
    status: int
    openai_type: str
    openai_code: str | None
    anthropic_type: str
    message: str  # "{key}" is replaced by the caller's key, as careless providers echo it


ERRORS = {
    "rate_limited": FakeError(
        429, "requests", "rate_limit_exceeded", "rate_limit_error", "Rate limit reached"
    ),
    "server_error": FakeError(500, "server_error", None, "api_error", "The server had an error"),
    "unavailable": FakeError(503, "server_error", None, "api_error", "Service unavailable"),
    "overloaded": FakeError(529, "server_error", "overloaded", "overloaded_error", "Overloaded"),
    "context_too_long": FakeError(
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
        "This model's maximum context length is 8192 tokens; prompt is too long: 9001 tokens > 8192 maximum",
    ),
    "unauthorized": FakeError(
        401,
        "invalid_request_error",
        "invalid_api_key",
        "authentication_error",
        "Incorrect API key provided: {key}",
    ),
    "forbidden": FakeError(403, "permission_error", None, "permission_error", "Not allowed for key {key}"),
    "bad_request": FakeError(400, "invalid_request_error", None, "invalid_request_error", "Invalid request"),
    "not_found": FakeError(
        404, "invalid_request_error", "model_not_found", "not_found_error", "No such model"
    ),
    "content_policy": FakeError(
        400,
        "invalid_request_error",
        "content_policy_violation",
        "invalid_request_error",
        "Your request was rejected by the content policy",
    ),
}


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{prefix}data: {body}\n\n".encode()


class OpenAIWire:
    request_id_header = "x-request-id"

    def completion(self, reply: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": reply.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.include_usage:
            body["usage"] = self._usage(reply)
        return body

    def _usage(self, reply: Reply) -> dict[str, int]:
        total = reply.input_tokens + reply.output_tokens
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": total,
        }

    def _chunk(self, reply: Reply, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        chunk = {"id": reply.id, "object": "chat.completion.chunk", "model": reply.model, "choices": [choice]}
        return _sse(chunk)

    def stream_start(self, reply: Reply) -> bytes:
        return self._chunk(reply, {"role": "assistant", "content": ""})

    def stream_delta(self, reply: Reply, token: str) -> bytes:
        return self._chunk(reply, {"content": token})

    def stream_end(self, reply: Reply, *, end_marker: bool) -> bytes:
        data = self._chunk(reply, {}, reply.finish_reason)
        if reply.include_usage:
            usage_chunk = {
                "id": reply.id,
                "object": "chat.completion.chunk",
                "model": reply.model,
                "choices": [],
            }
            data += _sse(usage_chunk | {"usage": self._usage(reply)})
        return data + (_sse("[DONE]") if end_marker else b"")

    def error_body(self, error: FakeError, api_key: str) -> dict[str, Any]:
        message = error.message.format(key=api_key)
        return {
            "error": {"message": message, "type": error.openai_type, "param": None, "code": error.openai_code}
        }

    def stream_error(self, error: FakeError, api_key: str) -> bytes:
        return _sse(self.error_body(error, api_key))


class OpenAICompletionsWire(OpenAIWire):
    """OpenAI's (legacy) completions API, which llama.cpp's server also speaks: `prompt` in,
    `choices[0].text` out; base models are called through it."""

    def completion(self, reply: Reply) -> dict[str, Any]:
        body = super().completion(reply)
        body["object"] = "text_completion"
        body["choices"] = [{"index": 0, "text": reply.text, "finish_reason": reply.finish_reason}]
        return body

    def _chunk(self, reply: Reply, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "text": delta.get("content", ""), "finish_reason": finish_reason}
        return _sse({"id": reply.id, "object": "text_completion", "model": reply.model, "choices": [choice]})


_ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


class AnthropicWire:
    request_id_header = "request-id"

    def _stop_reason(self, reply: Reply) -> str:
        return _ANTHROPIC_STOP_REASONS.get(reply.finish_reason, reply.finish_reason)

    def completion(self, reply: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": reply.id,
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
        }
        if reply.include_usage:
            body["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
        return body

    def stream_start(self, reply: Reply) -> bytes:
        message = self.completion(reply) | {"content": [], "stop_reason": None}
        if reply.include_usage:
            message["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": 1}
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        return (
            _sse({"type": "message_start", "message": message}, "message_start")
            + _sse(block, "content_block_start")
            + _sse({"type": "ping"}, "ping")
        )

    def stream_delta(self, reply: Reply, token: str) -> bytes:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}}
        return _sse(delta, "content_block_delta")

    def stream_end(self, reply: Reply, *, end_marker: bool) -> bytes:
        message_delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": None},
        }
        if reply.include_usage:
            message_delta["usage"] = {"output_tokens": reply.output_tokens}
        data = _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        data += _sse(message_delta, "message_delta")
        return data + (_sse({"type": "message_stop"}, "message_stop") if end_marker else b"")

    def error_body(self, error: FakeError, api_key: str) -> dict[str, Any]:
        message = error.message.format(key=api_key)
        return {"type": "error", "error": {"type": error.anthropic_type, "message": message}}

    def stream_error(self, error: FakeError, api_key: str) -> bytes:
        return _sse(self.error_body(error, api_key), "error")
