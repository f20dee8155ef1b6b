"""An OpenAI-compatible endpoint over Maestro's gateway: `/v1/chat/completions` and `/v1/models`.

Any OpenAI SDK pointed at `<maestro>/v1` with a tenant API key gets the gateway's routing, budgets,
rate limits (the tenant's and the key's own), semantic cache and traces. `model` may be:

    a model alias of the tenant        "standard-a"       that model first, the router's chain after
    a tier                             "small" | "standard" | "premium"
    "auto"                             the router decides from the text
    "route:<purpose>"                  route as Maestro routes that purpose (the tenant's tier per purpose)

Serving: `/v1/chat/completions` is a plain async Django view (`chat_completions`). Its first step is
the sync DRF view `ChatCompletions`, run in a thread, which authenticates the key, checks scopes,
parses the body and answers every refusal in OpenAI's error shape exactly as the other API views;
it never calls a model. The call itself then runs on the event loop of the ASGI server, on the
process-wide gateway runtime (`gateway.runtime.serving_runtime`): upstream connections are pooled,
and settling and the trace run after the response is sent (drained at server shutdown, config/asgi.py).

Off a server's loop (the test client, a WSGI server) there is no process-wide loop to leave work on:
a non-streamed call gets a runtime of its own, closed (drained) before the view returns, and a
streamed call runs on `gateway.loop`'s shared loop from a helper thread that hands events over a
queue to a sync generator.

Streams wait for the first event before answering, so refusals (401/402/413/429/503) keep their HTTP
status instead of arriving inside a 200 stream. A stream's body never touches tenant-owned tables:
the tenant travels inside the GatewayRequest, and the view's tenant scope is gone by then.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.authentication import Principal
from api.exceptions import ApiError, error_response, from_gateway_error, to_api_error
from api.models import Scope
from api.views.base import TenantScopedView, body_of
from gateway import (
    GatewayConfig,
    GatewayError,
    GatewayRequest,
    GatewayResponse,
    build_runtime,
    complete,
    stream,
)
from gateway.catalog import TenantCatalog, load_catalog
from gateway.loop import call_streaming
from gateway.models import TIER_ORDER
from gateway.providers.base import Message
from gateway.runtime import serving_runtime
from prompts.models import Purpose
from tenants.context import tenant_scope

logger = logging.getLogger("maestro.api")

ROUTE_PREFIX = "route:"
AUTO = "auto"
CHAT_PURPOSE = "chat"
STREAM_WAIT_SECONDS = 600  # the gateway's own timeouts end a call well before this
CALL_ATTRIBUTE = "maestro_call"  # the checked call, on the DRF step's response


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]})
class ContentField(serializers.Field):
    """A message's content: a string, or OpenAI's list of parts of which the text parts are kept."""

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(p, dict) for p in data):
            return "".join(str(p.get("text", "")) for p in data if p.get("type") == "text")
        raise serializers.ValidationError("content is a string or a list of text parts.")

    def to_representation(self, value) -> str:
        return value


ROLES = ("system", "developer", "user", "assistant")


class ChatMessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=list(ROLES))
    content = ContentField()


class StreamOptionsInput(serializers.Serializer):
    include_usage = serializers.BooleanField(default=False)


class ChatCompletionInput(serializers.Serializer):
    model = serializers.CharField(max_length=120)
    messages = ChatMessageInput(many=True, allow_empty=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=200_000, required=False, allow_null=True)
    max_completion_tokens = serializers.IntegerField(
        min_value=1, max_value=200_000, required=False, allow_null=True
    )
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    stream = serializers.BooleanField(default=False)
    stream_options = StreamOptionsInput(required=False, allow_null=True)
    n = serializers.IntegerField(min_value=1, max_value=1, required=False, allow_null=True)
    user = serializers.CharField(max_length=200, required=False, allow_blank=True)


def _model_ids(catalog) -> dict[str, str]:
    """Every name `model` may take for this tenant -> who owns it (for /v1/models)."""
    allowed = catalog.policy.allowed_aliases
    names = {m.alias: m.provider_name for m in catalog.models if not allowed or m.alias in allowed}
    names |= {str(tier): "maestro" for tier in TIER_ORDER}
    names[AUTO] = "maestro"
    names |= {f"{ROUTE_PREFIX}{purpose}": "maestro" for purpose in Purpose.values}
    return names


def _routing_of(name: str, known: dict[str, str]) -> tuple[str | None, str]:
    """(model for the gateway, purpose) for what the caller put in `model`."""
    if name not in known:
        raise ApiError(
            404, "model_not_found", f"The model {name!r} does not exist for this key; see /v1/models."
        )
    if name == AUTO:
        return None, CHAT_PURPOSE
    if name.startswith(ROUTE_PREFIX):
        return None, name.removeprefix(ROUTE_PREFIX)
    return name, CHAT_PURPOSE


FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


def _usage(response: GatewayResponse) -> dict:
    return {
        "prompt_tokens": response.input_tokens,
        "completion_tokens": response.output_tokens,
        "total_tokens": response.input_tokens + response.output_tokens,
    }


def completion_body(response: GatewayResponse) -> dict:
    return {
        "id": f"chatcmpl-{response.call_id.hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.text, "refusal": None},
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(response.finish_reason or "stop", "stop"),
            }
        ],
        "usage": _usage(response),
        "system_fingerprint": None,
    }


def maestro_headers(response: GatewayResponse) -> dict[str, str]:
    return {
        "X-Maestro-Call-Id": str(response.call_id),
        "X-Maestro-Cost-Micros": str(int(response.cost * 1_000_000)),
        "X-Maestro-Cache-Hit": "true" if response.cache_hit else "false",
    }


class OpenAIView(TenantScopedView):
    openai_errors = True
    throttle_classes: list = []  # the gateway limits model calls per tenant and per key


class ModelList(OpenAIView):
    @extend_schema(
        responses=inline_serializer(
            "ModelList",
            {"object": serializers.CharField(), "data": serializers.ListField(child=serializers.DictField())},
        )
    )
    def get(self, request):
        """The names `model` may take: the tenant's usable models, tiers, "auto" and route aliases."""
        known = _model_ids(load_catalog(self.principal.tenant))
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": owner} for name, owner in known.items()
        ]
        return Response({"object": "list", "data": data})


@dataclass(frozen=True)
class Prepared:
    """What the DRF step hands to the async view: a checked call, not yet made."""

    request: GatewayRequest
    stream: bool
    requested: str
    include_usage: bool


class ChatCompletions(OpenAIView):
    """The sync first step of `chat_completions`: who calls, may they, and what they ask for."""

    required_scopes = {"POST": Scope.GENERATE}

    @extend_schema(
        request=ChatCompletionInput,
        responses={200: inline_serializer("ChatCompletion", {"id": serializers.CharField()})},
    )
    def post(self, request):
        """OpenAI's chat completion, streamed as server-sent events when `stream` is true."""
        data = body_of(ChatCompletionInput, request)
        prepared = prepared_call(self.principal, data, load_catalog(self.principal.tenant))
        response = Response(status=202)  # never sent: `chat_completions` replaces it with the answer
        setattr(response, CALL_ATTRIBUTE, prepared)
        return response


def prepared_call(principal: Principal, data: dict, catalog: TenantCatalog) -> Prepared:
    """The checked call a validated body asks for (ApiError 404 for a `model` the tenant lacks)."""
    return Prepared(
        request=gateway_request_of(principal, data, catalog),
        stream=data["stream"],
        requested=data["model"],
        include_usage=bool((data.get("stream_options") or {}).get("include_usage")),
    )


def gateway_request_of(principal: Principal, data: dict, catalog: TenantCatalog) -> GatewayRequest:
    """The gateway call a validated body asks for (ApiError 404 for a `model` the tenant lacks)."""
    model, purpose = _routing_of(data["model"], _model_ids(catalog))
    key = principal.api_key
    messages = [
        Message("system" if m["role"] == "developer" else m["role"], m["content"]) for m in data["messages"]
    ]
    return GatewayRequest(
        tenant=principal.tenant,
        purpose=purpose,
        messages=messages,
        model=model,
        max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
        temperature=data.get("temperature"),
        user_id=principal.user.pk,
        api_key_id=key.pk if key else None,
        api_key_tokens_per_minute=key.tokens_per_minute if key else 0,
        api_key_requests_per_minute=key.requests_per_minute if key else 0,
    )


# ---- streaming ------------------------------------------------------------------------------------


class _Bridge:
    """Runs one streamed gateway call on the gateway loop and hands its events over a queue."""

    def __init__(self, request: GatewayRequest) -> None:
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(request,), name="v1-stream", daemon=True)
        self.thread.start()

    def _run(self, request: GatewayRequest) -> None:
        try:
            response = call_streaming(request, on_event=lambda kind, text: self.events.put((kind, text)))
            self.events.put(("done", response))
        except GatewayError as exc:
            self.events.put(("error", exc))
        except Exception:
            logger.exception("streamed call %s failed", request.call_id)
            self.events.put(("error", GatewayError("internal", "The call failed unexpectedly.")))

    def next(self) -> tuple[str, object]:
        try:
            return self.events.get(timeout=STREAM_WAIT_SECONDS)
        except queue.Empty:
            return "error", GatewayError("timeout", "The model did not answer in time.", http_status=504)


def _sse(payload) -> bytes:
    return f"data: {json.dumps(payload) if not isinstance(payload, str) else payload}\n\n".encode()


def _openai_error(exc: GatewayError) -> dict:
    return error_response(from_gateway_error(exc), openai=True).data


_prepare = ChatCompletions.as_view()


@csrf_exempt  # the DRF step enforces CSRF for session users, as every API view does
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    """`/v1/chat/completions`: checked by the DRF step in a thread, then called on the server's loop."""
    checked = await sync_to_async(_prepare)(request)
    prepared: Prepared | None = getattr(checked, CALL_ATTRIBUTE, None)
    if prepared is None:
        return checked  # a refusal in OpenAI's shape; Django renders it
    try:
        if prepared.stream:
            return await _stream(prepared)
        with tenant_scope(prepared.request.tenant):  # as the DRF view's own scope
            response = await _complete(prepared.request)
    except Exception as exc:
        error = to_api_error(exc)
        if error is None:
            raise  # a bug: Django answers 500 and logs it
        return error_json(error)
    return JsonResponse(completion_body(response), headers=maestro_headers(response))


# drf-spectacular documents a URL by its view class: the schema stays the DRF step's.
setattr(chat_completions, "cls", ChatCompletions)  # noqa: B010 - read by the schema generator
setattr(chat_completions, "initkwargs", {})  # noqa: B010 - as `as_view()` sets it


async def _complete(request: GatewayRequest) -> GatewayResponse:
    runtime = serving_runtime()
    if runtime is not None:  # settling and the trace go on after the answer, on the server's loop
        return await complete(request, runtime=runtime)
    config = GatewayConfig.from_settings()  # no loop outlives this request: drain before answering
    config.http_clients = 1
    own = build_runtime(config)
    try:
        return await complete(request, runtime=own)
    finally:
        await own.aclose()


def error_json(error: ApiError) -> JsonResponse:
    shaped = error_response(error, openai=True)
    headers = {name: value for name, value in shaped.items() if name != "Content-Type"}
    return JsonResponse(shaped.data, status=error.status_code, headers=headers)


async def _stream(prepared: Prepared) -> StreamingHttpResponse:
    request = prepared.request
    chunk_id = f"chatcmpl-{request.call_id.hex}"
    body: Iterator[bytes] | AsyncIterator[bytes]
    if serving_runtime() is not None:
        body = await open_stream(prepared)
    else:
        bridge = _Bridge(request)
        first = await sync_to_async(bridge.next, thread_sensitive=False)()
        if first[0] == "error" and isinstance(first[1], GatewayError):
            raise first[1]
        body = _chunks(
            bridge, first, chunk_id=chunk_id, model=prepared.requested, usage=prepared.include_usage
        )
    headers = stream_headers(prepared)
    response = StreamingHttpResponse(body, content_type=headers.pop("Content-Type"))
    for name, value in headers.items():
        response[name] = value
    return response


async def open_stream(prepared: Prepared) -> AsyncIterator[bytes]:
    """The SSE body of a streamed call on the server's loop, once its first event is in: a refusal
    before any text raises here (a GatewayError), so it keeps its own HTTP status."""
    request = prepared.request
    events = _async_events(request)
    first = await anext(events)
    return _async_chunks(events, first, prepared, f"chatcmpl-{request.call_id.hex}")


def stream_headers(prepared: Prepared) -> dict[str, str]:
    return {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Maestro-Call-Id": str(prepared.request.call_id),
    }


async def _async_events(request: GatewayRequest) -> AsyncGenerator[tuple[str, object], None]:
    """The gateway's events as the bridge's (kind, value) pairs; errors after the first event are
    events too, since the response has started by then."""
    started = False
    try:
        async with aclosing(stream(request, runtime=serving_runtime())) as events:
            async for event in events:
                started = True
                if event.kind == "done":
                    yield "done", event.response
                else:
                    yield event.kind, event.text or event.reason
    except GatewayError as exc:
        if not started:
            raise
        yield "error", exc
    except Exception:
        if not started:
            raise
        logger.exception("streamed call %s failed", request.call_id)
        yield "error", GatewayError("internal", "The call failed unexpectedly.")


async def _async_chunks(
    events: AsyncGenerator[tuple[str, object], None], first, prepared: Prepared, chunk_id: str
) -> AsyncIterator[bytes]:
    """The same SSE lines as `_chunks`, from the server's loop (a client that leaves closes this,
    which closes the gateway's stream)."""
    lines = _Lines(chunk_id=chunk_id, model=prepared.requested, usage=prepared.include_usage)
    async with aclosing(events):
        yield lines.opening()
        event = first
        while True:
            line, finished = lines.of(event)
            if line:
                yield line
            if finished:
                return
            event = await anext(events)


class _Lines:
    """The SSE lines of one streamed completion, event by event (the same for both bridges)."""

    def __init__(self, *, chunk_id: str, model: str, usage: bool) -> None:
        self.chunk_id, self.model, self.usage = chunk_id, model, usage
        self.created = int(time.time())
        self.sent_text = False

    def chunk(self, delta: dict, finish_reason=None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload = {"id": self.chunk_id, "object": "chat.completion.chunk", "created": self.created}
        return _sse({**payload, "model": self.model, "choices": [choice], **extra})

    def opening(self) -> bytes:
        return self.chunk({"role": "assistant", "content": ""})

    def of(self, event: tuple[str, object]) -> tuple[bytes, bool]:
        """(what to write for the event, whether the stream ends with it)."""
        kind, value = event
        if kind == "delta" and value:
            self.sent_text = True
            return self.chunk({"content": value}), False
        if kind == "restart" and self.sent_text:  # text already sent cannot be taken back
            failed = GatewayError("stream_restarted", f"The model failed mid-answer ({value}).")
            return _sse(_openai_error(failed)), True
        if kind == "error" and isinstance(value, GatewayError):
            return _sse(_openai_error(value)), True
        if kind == "done" and isinstance(value, GatewayResponse):
            return self.closing(value), True
        return b"", False

    def closing(self, response: GatewayResponse) -> bytes:
        reason = FINISH_REASONS.get(response.finish_reason or "stop", "stop")
        lines = self.chunk({}, reason)
        if self.usage:
            payload = {"id": self.chunk_id, "object": "chat.completion.chunk", "created": self.created}
            lines += _sse({**payload, "model": response.model, "choices": [], "usage": _usage(response)})
        return lines + _sse("[DONE]")


def _chunks(bridge: _Bridge, first, *, chunk_id: str, model: str, usage: bool) -> Iterator[bytes]:
    lines = _Lines(chunk_id=chunk_id, model=model, usage=usage)
    yield lines.opening()
    event = first
    while True:
        line, finished = lines.of(event)
        if line:
            yield line
        if finished:
            return
        event = bridge.next()
