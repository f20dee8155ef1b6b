"""The OpenAI-compatible Chat Completions API: OpenAI, Azure OpenAI, Ollama, llama.cpp's server, vLLM.

Azure OpenAI: put the deployment URL with its `?api-version=` in `base_url` and the key in
`extra_headers={"api-key": ...}` (leave `api_key` empty so no Bearer header is sent).
"""

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

END_MARKER = "[DONE]"
REFUSAL_FINISH_REASON = "content_filter"


def request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": message.role, "content": message.content} for message in request.messages],
        "max_tokens": request.max_tokens,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop"] = request.stop
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def parse_usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    try:
        return Usage(input_tokens=int(usage["prompt_tokens"]), output_tokens=int(usage["completion_tokens"]))
    except (KeyError, TypeError, ValueError):
        return None  # absent or malformed: the gateway estimates instead


def parse_completion(payload: dict[str, Any], headers: httpx.Headers, request: ChatRequest) -> ChatResult:
    try:
        choice = payload["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        finish_reason = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError(ErrorKind.SERVER_ERROR, "unexpected chat completion shape") from None
    if finish_reason == REFUSAL_FINISH_REASON or message.get("refusal"):
        raise refused(text, "the provider's content filter stopped the answer")
    return ChatResult(
        text=text,
        usage=parse_usage(payload.get("usage")),
        finish_reason=finish_reason,
        model=payload.get("model") or request.model,
        provider_request_id=headers.get("x-request-id") or payload.get("id"),
    )


class OpenAIStreamDecoder:
    """Chunks carry `choices[0].delta.content`; a last chunk carries usage; `data: [DONE]` ends.
    Emits the usage once, just before DONE."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.text = ""
        self.done = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if event.data.strip() == END_MARKER:
            self.done = True
            return end_of_stream_events(self.usage, self.finish_reason)
        try:
            chunk = json.loads(event.data)
        except ValueError:
            raise interrupted(self.text, "malformed stream chunk") from None
        if not isinstance(chunk, dict):
            raise interrupted(self.text, "malformed stream chunk")
        if "error" in chunk:
            raise error_from_event(chunk, secrets=self.secrets, partial_text=self.text)
        # Usage is held until the end marker: some servers (vLLM) repeat it in every chunk.
        self.usage = parse_usage(chunk.get("usage")) or self.usage
        return self._choice_events(chunk.get("choices") or [])

    def _choice_events(self, choices: list[Any]) -> list[StreamEvent]:
        events = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # only one answer is requested (n=1)
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.text += content
                events.append(StreamEvent(StreamEventKind.DELTA, text=content))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if self.finish_reason == REFUSAL_FINISH_REASON:
                raise refused(self.text, "the provider's content filter stopped the answer")
        return events


class OpenAIProvider(HttpChatProvider):
    kind = "openai"
    path = "chat/completions"
    build_body = staticmethod(request_body)
    parse_result = staticmethod(parse_completion)
    decoder_class = OpenAIStreamDecoder

    def _headers(self, stream: bool) -> httpx.Headers:
        headers = {"accept": "text/event-stream" if stream else "application/json"}
        if self.config.api_key:
            headers["authorization"] = f"Bearer {self.config.api_key}"
        return merge_headers(headers, self.config.extra_headers)
