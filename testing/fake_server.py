"""The fake provider's server side: scripted behaviours, recorded requests, and the two chat APIs.

Everything here runs on the server's own event loop (a background thread or a subprocess); the
test process scripts it through the `/_fake/...` control endpoints, so both ways work the same.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, fields
from typing import Any

from testing.fake_http import ConnectionStats, HttpRequest, HttpServer, Responder
from testing.fake_wire import ERRORS, AnthropicWire, OpenAICompletionsWire, OpenAIWire, Reply

LOREM_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi"
)
LOREM = LOREM_TEXT.split()
DEFAULT_MODELS = ("fake-model",)


@dataclass
class Behaviour:
    """What the fake does with one request. Times are seconds; every field is JSON-friendly.

    The reply is `text` if given, else `output_tokens` words of lorem ipsum, else "Echo: " and the
    last user message. One token is one whitespace-separated word (with the whitespace after it, line
    breaks kept) and one stream chunk; the reply is cut at the first of the request's stop sequences
    (finish reason "stop") and at its max_tokens (finish reason "length"). Input tokens: words in all
    messages (or in the completion prompt).
    """

    headers_delay: float = 0.0  # before the response headers, for every kind of answer
    first_token_delay: float = 0.0  # streams: headers -> first token; non-streamed: added before headers
    tokens_per_second: float | None = None  # None: as fast as possible
    text: str | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None  # report this instead of the word count
    error: str | None = None  # a key of fake_wire.ERRORS: answered with that status and body
    retry_after: str | None = None  # Retry-After header sent with the error (seconds or an HTTP date)
    retry_after_ms: int | None = None  # retry-after-ms header sent with the error
    set_cookie: str | None = None  # a Set-Cookie header on every answer (a client must not send it back)
    error_after_chunks: int | None = None  # streams: send `error` as an in-stream event after N tokens
    hang: bool = False  # never answer; the connection stays open until the client gives up
    hang_after_chunks: int | None = None  # streams: stop sending after N tokens, keep the connection
    cut_after_chunks: int | None = None  # streams: close the connection mid-body after N tokens
    end_marker: bool = True  # False: finish the HTTP body cleanly but leave out [DONE] / message_stop
    include_usage: bool = True  # False: no usage in the answer (the usage chunk is omitted)
    refusal: bool = False  # finish_reason "content_filter" / stop_reason "refusal" (no text unless `text`)
    finish_reason: str | None = None  # override "stop"/"length"
    # OpenAI-compatible only: a request with `response_format: json_schema` gets a JSON instance of
    # that schema, as a server with constrained decoding (llama.cpp's grammar) makes any model answer.
    # False: the schema is ignored and `text` comes back, like a provider without constrained decoding.
    constrained: bool = False

    def __post_init__(self) -> None:
        if self.error is not None and self.error not in ERRORS:
            raise ValueError(f"unknown fake error {self.error!r}; known: {', '.join(sorted(ERRORS))}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behaviour:
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


class Script:
    """Behaviours per model name (None: any model): one-shots first-in first-out, then a standing one.

    Lookup order: the model's one-shots, its standing behaviour, then the default one-shots and the
    default standing behaviour, then `Behaviour()`.
    """

    def __init__(self) -> None:
        self.once: defaultdict[str | None, deque[Behaviour]] = defaultdict(deque)
        self.standing: dict[str | None, Behaviour] = {}

    def next_for(self, model: str) -> Behaviour:
        if self.once[model]:
            return self.once[model].popleft()
        if model in self.standing:
            return self.standing[model]
        if self.once[None]:
            return self.once[None].popleft()
        return self.standing.get(None) or Behaviour()

    def models(self) -> set[str]:
        return {name for name in (*self.once, *self.standing) if name}


def _text_of(content: Any) -> str:
    """Message content as text: a string, or a list of parts with "text" (both APIs allow parts)."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _count_input_words(body: dict[str, Any]) -> int:
    texts = [_text_of(message.get("content")) for message in body.get("messages") or []]
    texts.append(_text_of(body.get("system")))
    texts.append(_text_of(body.get("prompt")))
    return sum(len(text.split()) for text in texts)


def _words(words: list[str]) -> list[str]:
    return [word + " " for word in words[:-1]] + words[-1:]


def _reply_tokens(behaviour: Behaviour, body: dict[str, Any]) -> list[str]:
    schema = requested_schema(body)
    if behaviour.constrained and schema is not None:
        return _words(json.dumps(schema_instance(schema)).split(" "))
    if behaviour.text is not None:
        tokens = re.findall(r"\S+\s*", behaviour.text)
        return [*tokens[:-1], tokens[-1].rstrip()] if tokens else []
    if behaviour.refusal:
        return []
    if behaviour.output_tokens is not None:
        return _words([LOREM[index % len(LOREM)] for index in range(behaviour.output_tokens)])
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return _words(["Echo:", *_text_of(users[-1].get("content") if users else "").split()])


def _cut_at_stop(tokens: list[str], stops: Any) -> tuple[list[str], bool]:
    """The tokens before the first stop sequence (which is not sent), as a server does."""
    if isinstance(stops, str):
        stops = [stops]
    text = "".join(tokens)
    found = [text.find(stop) for stop in stops or [] if isinstance(stop, str) and stop and stop in text]
    if not found:
        return tokens, False
    cut, kept, length = min(found), [], 0
    for token in tokens:
        if length + len(token) > cut:
            if cut > length:
                kept.append(token[: cut - length])
            break
        kept.append(token)
        length += len(token)
    return kept, True


def requested_schema(body: dict[str, Any]) -> dict | None:
    """The JSON schema an OpenAI-style request asks the answer to match, if any."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else None
    return None


def schema_instance(schema: dict) -> Any:
    """A small valid instance of a JSON schema (the subset Maestro's schemas use)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: schema_instance(properties[name]) for name in properties}
    if kind == "array":
        count = min(max(schema.get("minItems", 1), 1), schema.get("maxItems", 1))
        return [schema_instance(schema.get("items") or {"type": "string"}) for _ in range(count)]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 0), min(schema.get("maximum", 7), 7))
    text = " ".join(LOREM[:8])
    return text[: schema.get("maxLength", len(text))]


def plan_reply(behaviour: Behaviour, body: dict[str, Any], reply_id: str, *, streaming_usage: bool) -> Reply:
    tokens = _reply_tokens(behaviour, body)
    finish_reason = "content_filter" if behaviour.refusal else "stop"
    tokens, _stopped = _cut_at_stop(tokens, body.get("stop") or body.get("stop_sequences"))
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and len(tokens) > max_tokens:
        tokens, finish_reason = tokens[:max_tokens], "length"
        tokens[-1] = tokens[-1].rstrip() if tokens else ""
    return Reply(
        id=reply_id,
        model=str(body.get("model") or ""),
        tokens=tuple(tokens),
        input_tokens=behaviour.input_tokens
        if behaviour.input_tokens is not None
        else _count_input_words(body),
        finish_reason=behaviour.finish_reason or finish_reason,
        include_usage=behaviour.include_usage and streaming_usage,
    )


def _wants_stream_usage(body: dict[str, Any], wire: OpenAIWire | AnthropicWire) -> bool:
    """OpenAI sends the usage chunk only when asked; Anthropic always reports usage."""
    if not body.get("stream") or isinstance(wire, AnthropicWire):
        return True
    return bool((body.get("stream_options") or {}).get("include_usage"))


def _api_key(request: HttpRequest) -> str:
    # x-api-key (Anthropic), api-key (Azure OpenAI), Authorization: Bearer (OpenAI)
    return (
        request.headers.get("x-api-key")
        or request.headers.get("api-key")
        or request.headers.get("authorization", "").removeprefix("Bearer ")
    )


class FakeApp:
    """Routes requests: the chat APIs (under any prefix, so Azure-style URLs work) and `/_fake/` control."""

    def __init__(self, server_stats: ConnectionStats, max_recorded: int = 10_000) -> None:
        self.script = Script()
        self.recorded: deque[dict[str, Any]] = deque(maxlen=max_recorded)
        self.server_stats = server_stats
        self._ids = itertools.count(1)
        # Busy slots, as llama.cpp's server has (`--parallel N`): requests beyond N wait in line,
        # before any answer byte, while the client's first-token timeout runs.
        self.slots: dict[str | None, asyncio.Semaphore] = {}
        self.active: Counter[str] = Counter()  # requests being answered now, per model
        self.peak_active: Counter[str] = Counter()

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        if request.path.startswith("/_fake/"):
            await self._control(request, responder)
        elif request.method == "POST" and request.path.endswith("/chat/completions"):
            await self._chat(request, responder, OpenAIWire())
        elif request.method == "POST" and request.path.endswith("/completions"):
            await self._chat(request, responder, OpenAICompletionsWire())
        elif request.method == "POST" and request.path.endswith("/messages"):
            await self._chat(request, responder, AnthropicWire())
        elif request.method == "GET" and request.path.endswith("/models"):
            await responder.send_json(200, self._models())
        else:
            await responder.send_json(
                404, {"error": {"message": f"no route {request.path}", "type": "not_found"}}
            )

    def _models(self) -> dict[str, Any]:
        names = sorted(self.script.models() | set(DEFAULT_MODELS))
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "fake"} for name in names],
        }

    async def _control(self, request: HttpRequest, responder: Responder) -> None:
        action = request.path.removeprefix("/_fake/")
        if action == "script":
            self._apply_script(request.json())
        elif action == "reset":
            self.script = Script()
            self.recorded.clear()
            self.slots.clear()
            self.active.clear()
            self.peak_active.clear()
        elif action == "slots":
            data = request.json()
            self.slots[data.get("model")] = asyncio.Semaphore(int(data["slots"]))
        elif action == "concurrency":
            await responder.send_json(200, {"active": self.active, "peak": self.peak_active})
            return
        elif action == "requests":
            await responder.send_json(200, list(self.recorded))
            return
        elif action == "stats":
            await responder.send_json(200, asdict(self.server_stats))
            return
        else:
            await responder.send_json(404, {"error": f"unknown control action {action!r}"})
            return
        await responder.send_json(200, {"ok": True})

    def _apply_script(self, data: dict[str, Any]) -> None:
        model = data.get("model")
        self.script.once[model].extend(Behaviour.from_json(item) for item in data.get("once") or [])
        if data.get("standing") is not None:
            self.script.standing[model] = Behaviour.from_json(data["standing"])

    def _record(self, request: HttpRequest, body: Any) -> None:
        model = body.get("model") if isinstance(body, dict) else None
        self.recorded.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "model": model,
                "headers": request.headers,
                "body": body,
                "received_at": time.time(),
            }
        )

    async def _chat(
        self, request: HttpRequest, responder: Responder, wire: OpenAIWire | AnthropicWire
    ) -> None:
        try:
            body = request.json()
        except ValueError:
            body = None
        self._record(request, body)
        if not isinstance(body, dict):
            await responder.send_json(400, wire.error_body(ERRORS["bad_request"], ""))
            return
        model = str(body.get("model") or "")
        slots = self.slots.get(model) or self.slots.get(None)
        if slots is None:
            await self._answer(request, responder, wire, body, model)
            return
        async with slots:
            await self._answer(request, responder, wire, body, model)

    async def _answer(
        self,
        request: HttpRequest,
        responder: Responder,
        wire: OpenAIWire | AnthropicWire,
        body: dict,
        model: str,
    ) -> None:
        behaviour = self.script.next_for(model)
        self.active[model] += 1
        self.peak_active[model] = max(self.peak_active[model], self.active[model])
        try:
            await ReplyPlayer(request, responder, wire, behaviour, body, f"fake-{next(self._ids)}").play()
        finally:
            self.active[model] -= 1


class ReplyPlayer:
    """Plays one behaviour for one chat request."""

    def __init__(
        self,
        request: HttpRequest,
        responder: Responder,
        wire: OpenAIWire | AnthropicWire,
        behaviour: Behaviour,
        body: dict[str, Any],
        reply_id: str,
    ) -> None:
        self.request = request
        self.responder = responder
        self.wire = wire
        self.behaviour = behaviour
        self.body = body
        self.reply = plan_reply(behaviour, body, reply_id, streaming_usage=_wants_stream_usage(body, wire))

    async def play(self) -> None:
        behaviour = self.behaviour
        if behaviour.hang:
            await self.responder.wait_for_disconnect()
            return
        await asyncio.sleep(behaviour.headers_delay)
        if behaviour.error is not None and behaviour.error_after_chunks is None:
            await self._send_error()
        elif self.body.get("stream"):
            await self._stream()
        else:
            await asyncio.sleep(behaviour.first_token_delay + self._generation_seconds())
            await self.responder.send_json(200, self.wire.completion(self.reply), self._headers())

    def _headers(self) -> dict[str, str]:
        headers = {self.wire.request_id_header: f"req-{self.reply.id}"}
        if self.behaviour.set_cookie is not None:
            headers["set-cookie"] = self.behaviour.set_cookie
        return headers

    def _generation_seconds(self) -> float:
        tps = self.behaviour.tokens_per_second
        return max(0, self.reply.output_tokens - 1) / tps if tps else 0.0

    async def _send_error(self) -> None:
        error = ERRORS[self.behaviour.error or "server_error"]
        headers = self._headers()
        if self.behaviour.retry_after is not None:
            headers["retry-after"] = self.behaviour.retry_after
        if self.behaviour.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.behaviour.retry_after_ms)
        await self.responder.send_json(
            error.status, self.wire.error_body(error, _api_key(self.request)), headers
        )

    async def _stream(self) -> None:
        headers = self._headers() | {"content-type": "text/event-stream", "cache-control": "no-cache"}
        await self.responder.start_chunked(200, headers)
        await self.responder.write_chunk(self.wire.stream_start(self.reply))
        await asyncio.sleep(self.behaviour.first_token_delay)
        tokens = self.reply.tokens
        pace = _Pace(self.behaviour.tokens_per_second)
        for index in range(len(tokens) + 1):
            if await self._interrupted_at(index):
                return
            if index == len(tokens):
                break
            await pace.wait_for_token(index)
            await self.responder.write_chunk(self.wire.stream_delta(self.reply, tokens[index]))
        await self.responder.write_chunk(
            self.wire.stream_end(self.reply, end_marker=self.behaviour.end_marker)
        )
        await self.responder.end_chunked()

    async def _interrupted_at(self, sent_tokens: int) -> bool:
        behaviour = self.behaviour
        if behaviour.cut_after_chunks == sent_tokens:
            await self.responder.close_abruptly()
        elif behaviour.hang_after_chunks == sent_tokens:
            await self.responder.wait_for_disconnect()
        elif behaviour.error_after_chunks == sent_tokens:
            error = ERRORS[behaviour.error or "server_error"]
            await self.responder.write_chunk(self.wire.stream_error(error, _api_key(self.request)))
            await self.responder.end_chunked()
        else:
            return False
        return True


class _Pace:
    """Token i is due at first-token time + i / tokens_per_second: lateness of a busy event loop
    does not add up over a long reply, so a thousand streams keep the configured speed."""

    def __init__(self, tokens_per_second: float | None) -> None:
        self.interval = 1 / tokens_per_second if tokens_per_second else 0.0
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()

    async def wait_for_token(self, index: int) -> None:
        delay = self.start + index * self.interval - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def make_server(host: str = "127.0.0.1", port: int = 0, max_recorded: int = 10_000) -> HttpServer:
    stats = ConnectionStats()
    return HttpServer(FakeApp(stats, max_recorded=max_recorded), host=host, port=port, stats=stats)
