"""Anthropic's Messages API: system prompts go to a top-level field, streams are typed SSE events."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.providers.base import (
    ChatRequest,
    ChatResult,
    ErrorKind,
    ProviderError,
    StreamEvent,
    StreamEventKind,
    Usage,
)
from gateway.providers.errors import error_from_event, interrupted, refused
from gateway.providers.http import HttpChatProvider
from gateway.providers.sse import ServerSentEvent
from gateway.providers.transport import end_of_stream_events, merge_headers

API_VERSION = "2023-06-01"
REFUSAL_STOP_REASON = "refusal"
# Anthropic's stop reasons in the vocabulary ChatResult uses (OpenAI's); others pass through unchanged.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    system = "\n\n".join(message.content for message in request.messages if message.role == "system")
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [
            {"role": message.role, "content": message.content}
            for message in request.messages
            if message.role != "system"
        ],
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.response_schema is not None:
        # Structured output through a tool the model must call: its input is the JSON answer.
        body["tools"] = [
            {
                "name": request.schema_name,
                "description": "Give your answer by calling this tool.",
                "input_schema": request.response_schema,
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": request.schema_name}
    if stream:
        body["stream"] = True
    return body


def finish_reason_of(stop_reason: str | None) -> str | None:
    return FINISH_REASONS.get(stop_reason, stop_reason) if stop_reason else None


def _usage_of(payload: dict[str, Any]) -> dict[str, Any]:
    usage = payload.get("usage")
    return usage if isinstance(usage, dict) else {}


def _tokens(usage: dict[str, Any], name: str) -> int | None:
    value = usage.get(name)
    return int(value) if isinstance(value, int | float) else None


def _is_text_block(block: object) -> bool:
    return isinstance(block, dict) and block.get("type") == "text"  # not thinking or tool_use blocks


def _answer_text(blocks: list, request: ChatRequest) -> str:
    """The text blocks; for a structured request, the forced tool's input as JSON."""
    if request.response_schema is not None:
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                return json.dumps(block.get("input") or {})
    return "".join(str(block.get("text", "")) for block in blocks if _is_text_block(block))


def parse_message(payload: dict[str, Any], headers: httpx.Headers, request: ChatRequest) -> ChatResult:
    blocks = payload.get("content")
    if not isinstance(blocks, list):
        raise ProviderError(ErrorKind.SERVER_ERROR, "unexpected message shape")
    text = _answer_text(blocks, request)
    if payload.get("stop_reason") == REFUSAL_STOP_REASON:
        raise refused(text, "the model refused to answer")
    usage = _usage_of(payload)
    input_tokens, output_tokens = _tokens(usage, "input_tokens"), _tokens(usage, "output_tokens")
    return ChatResult(
        text=text,
        usage=Usage(input_tokens, output_tokens or 0) if input_tokens is not None else None,
        finish_reason=finish_reason_of(payload.get("stop_reason")),
        model=payload.get("model") or request.model,
        provider_request_id=headers.get("request-id") or payload.get("id"),
    )


class AnthropicStreamDecoder:
    """message_start (input usage), content_block_delta (text), message_delta (output usage, stop
    reason), message_stop (the end marker); `error` events become ProviderErrors. Emits the usage
    once, just before DONE."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.text = ""
        self.done = False
        self.finish_reason: str | None = None
        self.input_tokens: int | None = None
        self.usage: Usage | None = None

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        data = self._decode(event)
        kind = data.get("type") or event.event
        if kind == "message_start":
            self._start(data.get("message") or {})
        elif kind == "content_block_delta":
            return self._delta(data.get("delta") or {})
        elif kind == "message_delta":
            return self._message_delta(data)
        elif kind == "message_stop":
            self.done = True
            return end_of_stream_events(self.usage, self.finish_reason)
        elif kind == "error":
            raise error_from_event(data, secrets=self.secrets, partial_text=self.text)
        return []  # ping, content_block_start/stop, and event types added later

    def _decode(self, event: ServerSentEvent) -> dict[str, Any]:
        try:
            data = json.loads(event.data)
        except ValueError:
            raise interrupted(self.text, "malformed stream event") from None
        if not isinstance(data, dict):
            raise interrupted(self.text, "malformed stream event")
        return data

    def _start(self, message: dict[str, Any]) -> None:
        usage = message.get("usage")
        if isinstance(usage, dict):
            self.input_tokens = _tokens(usage, "input_tokens")

    def _delta(self, delta: dict[str, Any]) -> list[StreamEvent]:
        if delta.get("type") == "input_json_delta":  # a structured answer: the forced tool's input
            text = delta.get("partial_json")
        else:
            text = delta.get("text") if delta.get("type") == "text_delta" else None
        if not text:
            return []  # thinking deltas are not answer text
        self.text += text
        return [StreamEvent(StreamEventKind.DELTA, text=text)]

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if stop_reason == REFUSAL_STOP_REASON:
            raise refused(self.text, "the model refused to answer")
        self.finish_reason = finish_reason_of(stop_reason) or self.finish_reason
        usage = _usage_of(data)
        output_tokens = _tokens(usage, "output_tokens")
        if output_tokens is not None:
            # Output counts are cumulative; recent API versions repeat the input count here too.
            input_tokens = _tokens(usage, "input_tokens") or self.input_tokens or 0
            self.usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        return []


class AnthropicProvider(HttpChatProvider):
    kind = "anthropic"
    path = "messages"
    build_body = staticmethod(request_body)
    parse_result = staticmethod(parse_message)
    decoder_class = AnthropicStreamDecoder

    def _headers(self, stream: bool) -> httpx.Headers:
        headers = {
            "accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": API_VERSION,
        }
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        return merge_headers(headers, self.config.extra_headers)
