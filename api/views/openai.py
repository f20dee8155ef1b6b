"""An OpenAI-compatible endpoint over Maestro's gateway: `/v1/chat/completions` and `/v1/models`.

Any OpenAI SDK pointed at `<maestro>/v1` with a tenant API key gets the gateway's routing, budgets,
rate limits (the tenant's and the key's own), semantic cache and traces. `model` may be:

    a model alias of the tenant        "standard-a"       that model first, the router's chain after
    a tier                             "small" | "standard" | "premium"
    "auto"                             the router decides from the text
    "route:<purpose>"                  route as Maestro routes that purpose (the tenant's tier per purpose)

Streaming bridge: the view is sync (WSGI). A streamed call runs on the gateway's process-wide event
loop (`gateway.loop.call_streaming`) from a helper thread, which puts each event on a
queue; the response's generator reads the queue and writes SSE lines. The view waits for the first
event before answering, so refusals (401/402/413/429/503) keep their HTTP status instead of arriving
inside a 200 stream. The generator never touches tenant-owned tables: the tenant travels inside the
GatewayRequest, and the tenant scope of the view has been reset by the time the body is written.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.exceptions import ApiError, error_response, from_gateway_error
from api.models import Scope
from api.views.base import TenantScopedView, body_of
from gateway import GatewayError, GatewayRequest, GatewayResponse, complete_sync
from gateway.catalog import load_catalog
from gateway.loop import call_streaming
from gateway.models import TIER_ORDER
from gateway.providers.base import Message
from prompts.models import Purpose

logger = logging.getLogger("maestro.api")

ROUTE_PREFIX = "route:"
AUTO = "auto"
CHAT_PURPOSE = "chat"
STREAM_WAIT_SECONDS = 600  # the gateway's own timeouts end a call well before this


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


class ChatMessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant"])
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


def _completion(response: GatewayResponse) -> dict:
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


def _maestro_headers(response: GatewayResponse) -> dict[str, str]:
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


class ChatCompletions(OpenAIView):
    required_scopes = {"POST": Scope.GENERATE}

    @extend_schema(
        request=ChatCompletionInput,
        responses={200: inline_serializer("ChatCompletion", {"id": serializers.CharField()})},
    )
    def post(self, request):
        """OpenAI's chat completion, streamed as server-sent events when `stream` is true."""
        data = body_of(ChatCompletionInput, request)
        gateway_request = self._gateway_request(data)
        if not data["stream"]:
            response = complete_sync(gateway_request)
            return Response(_completion(response), headers=_maestro_headers(response))
        include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
        return _stream(gateway_request, requested=data["model"], include_usage=include_usage)

    def _gateway_request(self, data: dict) -> GatewayRequest:
        principal = self.principal
        model, purpose = _routing_of(data["model"], _model_ids(load_catalog(principal.tenant)))
        key = principal.api_key
        messages = [
            Message("system" if m["role"] == "developer" else m["role"], m["content"])
            for m in data["messages"]
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


def _stream(request: GatewayRequest, *, requested: str, include_usage: bool):
    bridge = _Bridge(request)
    first = bridge.next()
    kind, value = first
    # Refused before any text: answer with the refusal's own status (the bridge's errors are all
    # GatewayErrors).
    if kind == "error" and isinstance(value, GatewayError):
        raise value
    body = _chunks(
        bridge, first, chunk_id=f"chatcmpl-{request.call_id.hex}", model=requested, usage=include_usage
    )
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["X-Maestro-Call-Id"] = str(request.call_id)
    return response


def _chunks(bridge: _Bridge, first, *, chunk_id: str, model: str, usage: bool):
    created = int(time.time())

    def chunk(delta: dict, finish_reason=None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return _sse({**payload, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    sent_text, event = False, first
    while True:
        kind, value = event
        if kind == "delta" and value:
            sent_text = True
            yield chunk({"content": value})
        elif kind == "restart" and sent_text:  # text already sent cannot be taken back
            yield _sse(
                _openai_error(GatewayError("stream_restarted", f"The model failed mid-answer ({value})."))
            )
            return
        elif kind == "error":
            yield _sse(_openai_error(value))
            return
        elif kind == "done":
            break
        event = bridge.next()
    response: GatewayResponse = value
    reason = FINISH_REASONS.get(response.finish_reason or "stop", "stop")
    yield chunk({}, reason)
    if usage:
        payload = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": response.model,
        }
        yield _sse({**payload, "choices": [], "usage": _usage(response)})
    yield _sse("[DONE]")
