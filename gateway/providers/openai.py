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
    Timeouts,
    Usage,
)
from gateway.providers.errors import error_from_event, interrupted, refused
from gateway.providers.http import HttpChatProvider
from gateway.providers.sse import ServerSentEvent
from gateway.providers.transport import build_post, end_of_stream_events, join_url, merge_headers

END_MARKER = "[DONE]"
REFUSAL_FINISH_REASON = "content_filter"
COMPLETIONS_PATH = "completions"  # the document (base-model) API: `prompt` in, `choices[0].text` out
# JSON Schema keywords OpenAI's strict mode refuses; llama.cpp's server uses them to bound the grammar.
NON_STRICT_KEYWORDS = frozenset({"minLength", "maxLength"})


def request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model}
    if request.prompt is not None:
        body["prompt"] = request.prompt
    else:
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop"] = request.stop[:4]  # OpenAI accepts at most four
    if request.frequency_penalty is not None:
        body["frequency_penalty"] = request.frequency_penalty
    if request.response_schema is not None:
        body["response_format"] = response_format(request.response_schema, request.schema_name)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def response_format(schema: dict, name: str) -> dict[str, Any]:
    """`json_schema` response format: strict (decoding constrained by OpenAI) unless the schema bounds
    string lengths, which strict mode refuses; llama.cpp's server constrains either way."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": schema,
            "strict": not _uses_keywords(schema, NON_STRICT_KEYWORDS),
        },
    }


def _uses_keywords(schema: object, keywords: frozenset[str]) -> bool:
    if isinstance(schema, dict):
        return any(key in keywords or _uses_keywords(value, keywords) for key, value in schema.items())
    if isinstance(schema, list):
        return any(_uses_keywords(item, keywords) for item in schema)
    return False


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
        text = message.get("content") or choice.get("text") or ""  # chat, or the completions API
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
            content = (choice.get("delta") or {}).get("content") or choice.get("text")  # chat or completions
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

    def _http_request(self, request: ChatRequest, timeouts: Timeouts, *, stream: bool) -> httpx.Request:
        """A request with a `prompt` (a base model's document) goes to the completions API."""
        path = COMPLETIONS_PATH if request.prompt is not None else self.path
        url = join_url(self.config.base_url, path)
        return build_post(
            self.client, url, request_body(request, stream=stream), self._headers(stream), timeouts
        )

    def _headers(self, stream: bool) -> httpx.Headers:
        headers = {"accept": "text/event-stream" if stream else "application/json"}
        if self.config.api_key:
            headers["authorization"] = f"Bearer {self.config.api_key}"
        return merge_headers(headers, self.config.extra_headers)
