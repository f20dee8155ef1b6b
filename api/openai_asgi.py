"""The ASGI front door of `POST /v1/chat/completions`: the common case without Django's request stack.

An OpenAI client calling with an API key is the hottest path Maestro serves. Through Django, each such
request crosses the sync middleware stack on a thread of its own, hops back to the loop for the view,
and hops to a thread again for the DRF checks: several milliseconds of CPU a call, more than the
gateway's own work. `config/asgi.py` puts this front door before Django for that one URL. It serves a
request itself only when everything about it is in order and known:

- the host is allowed, and the request is secure where production redirects plain HTTP;
- it carries an API key this process resolved in the last `MAESTRO_API_KEY_CACHE_SECONDS` (5 s by
  default; the first request of a key, and one every 5 s after, resolves it in a thread), and the key
  has the `generate` scope;
- the body (within the size limit) validates exactly as the DRF view validates it (the same
  serializer and checks, `api.views.base.body_of`), and names a model the tenant has.

Anything else — no key, an unknown or revoked key, a missing scope, a body that does not validate, an
unknown model, a host not allowed, a plain-HTTP request in production — is handed to Django
unchanged, its body replayed, so every refusal is the very answer the Django view gives. The call
itself, its errors, its headers and its SSE lines are the view's own code (`api.views.openai`); the
security headers are those Django's middleware adds, computed from the same settings.

A key revoked (or a tenant deactivated) stops being served by every process within the cache's
lifetime; the process that revokes it forgets it at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpResponse, JsonResponse
from django.http.request import split_domain_port, validate_host
from rest_framework.exceptions import APIException

from api import resolved_keys
from api.authentication import Principal, principal_of_key
from api.exceptions import ApiError, to_api_error
from api.models import Scope
from api.selectors import api_key_for_token
from api.services import TOKEN_PREFIX, api_key_touch, token_digest
from api.validation import max_body_bytes
from api.views.base import body_of
from api.views.openai import (
    ROLES,
    ChatCompletionInput,
    Prepared,
    completion_body,
    error_json,
    maestro_headers,
    open_stream,
    prepared_call,
    stream_headers,
)
from common.text import MAX_DEPTH, find_problem, too_deep
from gateway import complete
from gateway.catalog import TenantCatalog, cached_catalog, load_catalog
from gateway.runtime import serving_runtime
from telemetry.middleware import RequestObservation
from tenants.context import tenant_scope

logger = logging.getLogger("maestro.api")

PATH = "/v1/chat/completions"
ROUTE = "/v1/chat/completions"  # the route label Django's telemetry gives this URL
TOUCH_SECONDS = 60  # as api_key_touch: record a key's use at most once a minute

AsgiScope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's handler types its arguments more loosely


def _resolve_in_thread(token: str) -> Principal | None:
    """The key behind a token, from the database (None if unknown or revoked); records its use."""
    close_old_connections()
    try:
        key = api_key_for_token(token)
        if key is None:
            return None
        api_key_touch(key=key)
        return principal_of_key(key)
    finally:
        connection.close()  # back to the pool: this thread serves no request of its own


def _touch_in_thread(principal: Principal) -> None:
    close_old_connections()
    try:
        if principal.api_key is not None:
            api_key_touch(key=principal.api_key)
    finally:
        connection.close()


async def _principal(token: str) -> Principal | None:
    digest = token_digest(token)
    known = resolved_keys.resolved(digest)
    if known is None:
        principal = await sync_to_async(_resolve_in_thread, thread_sensitive=False)(token)
        if principal is None:
            resolved_keys.forget(digest)
            return None
        resolved_keys.remember(digest, principal)
        return principal
    now = time.monotonic()
    if now - known.touched > TOUCH_SECONDS:
        known.touched = now
        await sync_to_async(_touch_in_thread, thread_sensitive=False)(known.principal)
    return known.principal


async def _catalog(principal: Principal) -> TenantCatalog:
    catalog = cached_catalog(principal.tenant.pk)
    if catalog is not None:
        return catalog

    def load() -> TenantCatalog:
        close_old_connections()
        try:
            return load_catalog(principal.tenant)
        finally:
            connection.close()

    return await sync_to_async(load, thread_sensitive=False)()


# ---- the request ---------------------------------------------------------------------------------


def _headers(scope: AsgiScope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _token(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


def _is_secure(scope: AsgiScope, headers: dict[str, str]) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, expected = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower()
        return headers.get(header, "").split(",")[0].strip() == expected
    return False


def _host_allowed(headers: dict[str, str]) -> bool:
    """As HttpRequest.get_host() decides (with USE_X_FORWARDED_HOST, the forwarded host counts)."""
    host = headers.get("host", "")
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    domain, _port = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _json(raw: bytes) -> Any:
    """The body as JSON, or None when it is anything the DRF parser would not take as it is."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        value = json.loads(raw.decode(settings.DEFAULT_CHARSET), parse_constant=refuse)
    except (ValueError, RecursionError):
        return None
    return None if too_deep(value, max_depth=MAX_DEPTH) else value


TOKENS_RANGE = range(1, 200_001)  # as ChatCompletionInput's max_tokens and max_completion_tokens
KNOWN_MESSAGE_KEYS = frozenset({"role", "content"})


UNSURE = object()  # a value whose validated form only DRF should decide


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tokens(value: Any) -> Any:
    return value if value is None or (_is_int(value) and value in TOKENS_RANGE) else UNSURE


def _temperature(value: Any) -> Any:
    if value is None:
        return None
    if (_is_int(value) or isinstance(value, float)) and 0 <= value <= 2:
        return float(value)
    return UNSURE


def _stream_options(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"include_usage"}:
        return UNSURE
    include = value.get("include_usage", False)
    return {"include_usage": include} if isinstance(include, bool) else UNSURE


def _n(value: Any) -> Any:
    return value if value is None or (_is_int(value) and value == 1) else UNSURE


def _user(value: Any) -> Any:
    return value if isinstance(value, str) and value == value.strip() and len(value) <= 200 else UNSURE


OPTIONAL = {
    "max_tokens": _tokens,
    "max_completion_tokens": _tokens,
    "temperature": _temperature,
    "stream_options": _stream_options,
    "n": _n,
    "user": _user,
}


def _messages(value: Any) -> list[dict] | None:
    if not isinstance(value, list) or not value:
        return None
    checked = []
    for message in value:
        if not isinstance(message, dict) or message.keys() != KNOWN_MESSAGE_KEYS:
            return None
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or role not in ROLES or not isinstance(content, str):
            return None
        checked.append({"role": role, "content": content})
    return checked


def _plain_body(value: dict) -> dict | None:
    """What `body_of(ChatCompletionInput, ...)` returns for a body in the plain, common shape, without
    building DRF serializers (a third of the front door's CPU); None for any other body, which DRF
    then checks. Only shapes whose result is certain are taken: strings DRF would trim, content as a
    list of parts, unexpected message keys and every doubtful value go to DRF. Keys the serializer
    does not declare are dropped, as DRF drops them."""
    model, stream = value.get("model"), value.get("stream", False)
    if not isinstance(model, str) or not model or model != model.strip() or len(model) > 120:
        return None
    messages = _messages(value.get("messages"))
    if messages is None or not isinstance(stream, bool):
        return None
    data: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    for name, check in OPTIONAL.items():
        if name in value:
            data[name] = check(value[name])
            if data[name] is UNSURE:
                return None
    return None if find_problem(data, max_depth=MAX_DEPTH) is not None else data


def _validated(raw: bytes) -> dict | None:
    value = _json(raw)
    if not isinstance(value, dict):
        return None
    plain = _plain_body(value)
    if plain is not None:
        return plain
    try:
        return body_of(ChatCompletionInput, SimpleNamespace(data=value))
    except APIException:
        return None


def security_headers(secure: bool) -> list[tuple[str, str]]:
    """What SecurityMiddleware and XFrameOptionsMiddleware add to an API response, from settings."""
    headers = []
    if secure and settings.SECURE_HSTS_SECONDS:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append(("Strict-Transport-Security", value))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return headers


class _Replay:
    """A `receive` that gives back what the front door already read, then the rest of the request."""

    def __init__(self, receive: Receive, body: bytes, complete_body: bool) -> None:
        self.receive, self.body, self.complete = receive, body, complete_body
        self.replayed = False

    async def __call__(self) -> dict:
        if not self.replayed:
            self.replayed = True
            return {"type": "http.request", "body": self.body, "more_body": not self.complete}
        return await self.receive()


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """(what was read, whether the body is complete, whether the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, False
        if size > limit:
            return b"".join(chunks), False, False


# ---- answering -----------------------------------------------------------------------------------


async def _send_response(send: Send, response: HttpResponse, extra: list[tuple[str, str]]) -> None:
    headers = [(name, value) for name, value in response.items()] + extra
    await send({
        "type": "http.response.start",
        "status": response.status_code,
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": response.content})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_stream(
    send: Send, receive: Receive, body: AsyncIterator[bytes], headers: list[tuple[str, str]]
) -> None:
    """Write the SSE body as it comes; a client that leaves closes it, which ends the gateway call."""

    async def pump() -> None:
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        })  # fmt: skip
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    writer = asyncio.ensure_future(pump())
    listener = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        listener.cancel()
        if not writer.done():
            writer.cancel()
        try:
            await writer
        except (asyncio.CancelledError, OSError):
            pass  # the client left: nothing more to write
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()


async def _serve(prepared: Prepared, send: Send, receive: Receive, secure: bool) -> int:
    """Make the call and answer it; returns the status sent."""
    extra = security_headers(secure)
    try:
        if prepared.stream:
            body = await open_stream(prepared)
            await _send_stream(send, receive, body, [*stream_headers(prepared).items(), *extra])
            return 200
        with tenant_scope(prepared.request.tenant):
            response = await complete(prepared.request, runtime=serving_runtime())
    except Exception as exc:
        error = to_api_error(exc)
        if error is None:
            raise
        refusal = error_json(error)
        await _send_response(send, refusal, extra)
        return refusal.status_code
    answer = JsonResponse(completion_body(response), headers=maestro_headers(response))
    await _send_response(send, answer, extra)
    return 200


def front_door(django_application: ASGIApp) -> ASGIApp:
    """`/v1/chat/completions` served here when it can be, everything else by Django."""

    async def application(scope: AsgiScope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or serving_runtime() is None
        ):
            await django_application(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope)
        token = _token(headers)
        secure = _is_secure(scope, headers)
        limit = max_body_bytes()
        declared = headers.get("content-length", "")
        if (
            token is None
            or not token.startswith(f"{TOKEN_PREFIX}_")
            or not _host_allowed(headers)
            or (settings.SECURE_SSL_REDIRECT and not secure)
            or (declared.isdigit() and int(declared) > limit)
        ):
            await django_application(scope, receive, send)
            return
        body, complete_body, left = await _read_body(receive, limit)
        if left:
            return
        replay = _Replay(receive, body, complete_body)
        prepared = await _prepared(token, body) if complete_body else None
        if prepared is None:  # Django answers (and observes) it
            await django_application(scope, replay, send)
            return
        observed = RequestObservation("POST", PATH, headers)
        observed.started = started
        status = 500
        try:
            status = await _serve(prepared, send, replay, secure)
        except BaseException as exc:
            observed.finish(route=ROUTE, status=500, tenant_slug=prepared.request.tenant.slug, error=exc)
            raise
        observed.finish(route=ROUTE, status=status, tenant_slug=prepared.request.tenant.slug)

    return application


async def _prepared(token: str, body: bytes) -> Prepared | None:
    principal = await _principal(token)
    if principal is None or Scope.GENERATE not in principal.scopes:
        return None
    data = _validated(body)
    if data is None:
        return None
    catalog = await _catalog(principal)
    try:
        return prepared_call(principal, data, catalog)
    except ApiError:  # the model is not the tenant's: Django answers the 404
        return None
