"""OpenTelemetry traces: off unless the standard OTEL_* variables ask for them (docs/telemetry.md).

    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318     # or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER ...

The SDK reads every one of them itself (exporter, resource, sampler, batch processor); this module only
decides whether to start it, and gives the apps their spans:

- `span(name, attributes)`: a span around a block of synchronous code, current inside it (the HTTP
  request, a Celery task, a flow step);
- `record_span(...)`: a span whose start and end are already known, written once a thing is over. The
  gateway writes its call and attempt spans this way when the call ends, under the context it captured
  when the call began: an async generator's spans cannot be "current" across its yields.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token

from django.core.exceptions import ImproperlyConfigured
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

logger = logging.getLogger("maestro.telemetry")
TRACER_NAME = "maestro"
AttributeValue = str | bool | int | float

_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return exporter == "otlp" or bool(endpoint)


def configure(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Start the SDK with an OTLP/HTTP exporter when `wanted`; called once per process at start."""
    if not wanted(environ):
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip() or "http/protobuf"
    if exporter != "otlp" or protocol != "http/protobuf":
        raise ImproperlyConfigured(
            f"OTEL_TRACES_EXPORTER={exporter!r} with protocol {protocol!r}: Maestro exports traces over "
            "OTLP/HTTP only; set OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf."
        )
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "maestro"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    trace.set_tracer_provider(provider)
    logger.info("OpenTelemetry traces export over OTLP/HTTP")
    return provider


def install(provider: TracerProvider | None) -> None:
    """Use `provider` for Maestro's spans (tests install one with an in-memory exporter)."""
    global _provider  # one provider per process
    _provider = provider


def enabled() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer(TRACER_NAME)


def _clean(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    return {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}


@contextmanager
def span(
    name: str, attributes: Mapping[str, object] | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span around the block, current inside it; an exception marks it as an error."""
    with tracer().start_as_current_span(name, kind=kind, attributes=_clean(attributes or {})) as current:
        yield current


def current_context() -> Context:
    return otel_context.get_current()


@contextmanager
def continued(parent: Context) -> Iterator[None]:
    """Make `parent` current in another thread or task (a context captured where the work began)."""
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def record_span(
    name: str,
    *,
    parent: Context | None,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, object],
    error: str = "",
    kind: SpanKind = SpanKind.INTERNAL,
) -> Context:
    """A finished span under `parent`; returns the context its own children go under."""
    recorded = tracer().start_span(
        name, context=parent, kind=kind, attributes=_clean(attributes), start_time=start_ns
    )
    if error:
        recorded.set_status(Status(StatusCode.ERROR, error[:200]))
    recorded.end(end_time=max(end_ns, start_ns))
    return trace.set_span_in_context(recorded, parent)


# ---- Celery: a task's span continues the trace of whoever enqueued it ----------------------------

_task_spans: dict[str, tuple[Span, Token[Context]]] = {}


def inject_into(headers: dict) -> None:
    """Before a task is published: the W3C trace context goes into its message headers."""
    if _provider is not None:
        propagate.inject(headers)


def task_started(task_id: str, task_name: str, request: object) -> None:
    if _provider is None:
        return
    # A worker's request carries the message headers as attributes; an eager `apply` under `headers`.
    headers = getattr(request, "headers", None) or {}
    carrier = {}
    for key in ("traceparent", "tracestate"):
        value = getattr(request, key, None) or headers.get(key)
        if value:
            carrier[key] = str(value)
    parent = propagate.extract(carrier) if carrier else otel_context.get_current()
    started = tracer().start_span(f"task {task_name}", context=parent, kind=SpanKind.CONSUMER)
    started.set_attribute("celery.task_id", task_id)
    token = otel_context.attach(trace.set_span_in_context(started, parent))
    _task_spans[task_id] = (started, token)


def task_finished(task_id: str, state: str) -> None:
    entry = _task_spans.pop(task_id, None)
    if entry is None:
        return
    started, token = entry
    started.set_attribute("celery.state", state or "")
    if state and state not in ("SUCCESS", "RETRY"):
        started.set_status(Status(StatusCode.ERROR, state))
    otel_context.detach(token)
    started.end()
