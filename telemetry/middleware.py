"""Each HTTP request: a server span (continuing a caller's `traceparent`) and its latency histogram.

The latency runs until the response is returned: for a streamed response (server-sent events) that is
the time to its first byte, not to its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import Token

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from telemetry import metrics, tracing

UNMATCHED = "unmatched"  # the route label of a URL no view matched: paths would explode the series


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None and match.route else UNMATCHED


class RequestObservation:
    """One HTTP request's server span and latency, for the Django middleware below and for the ASGI
    front door of /v1 (api/openai_asgi.py), which serves its requests without Django's stack."""

    def __init__(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        self.method, self.path = method, path
        self.started = time.perf_counter()
        self.span: Span | None = None
        self.token: Token[Context] | None = None
        if tracing.enabled():
            parent = propagate.extract(headers)
            self.span = tracing.tracer().start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER)
            self.token = otel_context.attach(trace.set_span_in_context(self.span, parent))

    def finish(
        self, *, route: str, status: int, tenant_slug: str | None = None, error: BaseException | None = None
    ) -> None:
        metrics.http_request_seconds.labels(method=self.method, route=route, status=str(status)).observe(
            time.perf_counter() - self.started
        )
        if self.span is None:
            return
        self.span.update_name(f"{self.method} {route}")
        self.span.set_attributes({
            "http.request.method": self.method,
            "http.route": route,
            "url.path": self.path,
            "http.response.status_code": status,
        })  # fmt: skip
        if tenant_slug is not None:
            self.span.set_attribute("maestro.tenant", tenant_slug)
        if error is not None:
            self.span.record_exception(error)
        if status >= 500 or error is not None:
            self.span.set_status(Status(StatusCode.ERROR))
        if self.token is not None:
            otel_context.detach(self.token)
        self.span.end()


class _RequestSpan(RequestObservation):
    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        super().__init__(request.method or "", request.path, request.headers)

    def done(self, response: HttpResponse | None, error: BaseException | None = None) -> None:
        tenant = getattr(self.request, "tenant", None)
        self.finish(
            route=_route(self.request),
            status=response.status_code if response is not None else 500,
            tenant_slug=tenant.slug if tenant is not None else None,
            error=error,
        )


@sync_and_async_middleware
def telemetry_middleware(get_response: Callable) -> Callable:
    """First in MIDDLEWARE, so that its span and its clock cover every other middleware."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            observed = _RequestSpan(request)
            try:
                response = await get_response(request)
            except BaseException as exc:
                observed.done(None, exc)
                raise
            observed.done(response)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        observed = _RequestSpan(request)
        try:
            response = get_response(request)
        except BaseException as exc:
            observed.done(None, exc)
            raise
        observed.done(response)
        return response

    return middleware
