"""What the gateway reports when a call ends: its metrics, and its span with one child per attempt.

The gateway fills a `CallObservation` from the call's trace (gateway/observability.py); nothing here
knows the gateway's types, so the layers stay as they are (docs/CONVENTIONS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from telemetry import metrics, tracing

MODEL_NONE = "none"  # the label of a call no model answered (refused before routing, every model failed)


@dataclass(frozen=True)
class AttemptObservation:
    model: str
    outcome: str  # "ok", an error kind, "skipped", "cancelled", "slots_busy"
    started_s: float  # since the call started
    latency_s: float
    ttft_s: float | None
    error: str = ""
    queued_s: float = 0.0


@dataclass(frozen=True)
class CallObservation:
    call_id: str
    tenant_id: int
    tenant: str  # the slug
    purpose: str
    model: str  # the alias that answered; "" if none did
    status: str  # "ok", "refused", "error"
    error_code: str
    streamed: bool
    started_ns: int  # wall clock, for the span
    latency_s: float
    ttft_s: float | None
    input_tokens: int
    output_tokens: int
    cost: float
    cache_looked_up: bool
    cache_hit: bool
    prompt_version_id: int | None = None
    flow_run_id: int | None = None
    step: str = ""
    attempts: tuple[AttemptObservation, ...] = field(default_factory=tuple)


def observe_call(observation: CallObservation, *, parent: Context | None) -> None:
    _count(observation)
    if tracing.enabled():
        _spans(observation, parent)


def _count(o: CallObservation) -> None:
    model = o.model or MODEL_NONE
    metrics.gateway_call_seconds.labels(model=model, status=o.status).observe(o.latency_s)
    if o.input_tokens:
        metrics.gateway_tokens.labels(model=model, direction="input").inc(o.input_tokens)
    if o.output_tokens:
        metrics.gateway_tokens.labels(model=model, direction="output").inc(o.output_tokens)
    if o.cost:
        metrics.gateway_cost.labels(model=model).inc(o.cost)
    if o.cache_looked_up:
        result = "hit" if o.cache_hit else "miss"
        metrics.gateway_cache.labels(purpose=o.purpose, result=result).inc()
    if o.error_code:
        metrics.gateway_refusals.labels(reason=o.error_code).inc()
    for attempt in o.attempts:
        metrics.gateway_attempts.labels(model=attempt.model, outcome=attempt.outcome).inc()
        if o.streamed and attempt.ttft_s is not None:
            metrics.gateway_ttft_seconds.labels(model=attempt.model).observe(attempt.ttft_s)


def _spans(o: CallObservation, parent: Context | None) -> None:
    end_ns = o.started_ns + int(o.latency_s * 1e9)
    call = tracing.record_span(
        f"gateway {o.purpose}",
        parent=parent,
        start_ns=o.started_ns,
        end_ns=end_ns,
        kind=SpanKind.CLIENT,
        error=o.error_code,
        attributes={
            "maestro.call_id": o.call_id,
            "maestro.tenant": o.tenant,
            "maestro.tenant_id": o.tenant_id,
            "maestro.purpose": o.purpose,
            "maestro.status": o.status,
            "maestro.error_code": o.error_code,
            "maestro.cost": o.cost,
            "maestro.cache_hit": o.cache_hit,
            "maestro.streamed": o.streamed,
            "maestro.prompt_version_id": o.prompt_version_id,
            "maestro.flow_run_id": o.flow_run_id,
            "maestro.step": o.step,
            "maestro.ttft_ms": round(o.ttft_s * 1000, 2) if o.ttft_s is not None else None,
            "gen_ai.response.model": o.model,
            "gen_ai.usage.input_tokens": o.input_tokens,
            "gen_ai.usage.output_tokens": o.output_tokens,
        },
    )
    for attempt in o.attempts:
        start_ns = o.started_ns + int(attempt.started_s * 1e9)
        answered = attempt.outcome == "ok"  # the attempt whose answer the call returned: its usage
        tracing.record_span(
            f"attempt {attempt.model}",
            parent=call,
            start_ns=start_ns,
            end_ns=start_ns + int(attempt.latency_s * 1e9),
            kind=SpanKind.CLIENT,
            error="" if attempt.outcome in ("ok", "skipped") else f"{attempt.outcome}: {attempt.error}",
            attributes={
                "maestro.tenant": o.tenant,
                "maestro.purpose": o.purpose,
                "maestro.outcome": attempt.outcome,
                "maestro.error": attempt.error,
                "maestro.queued_s": attempt.queued_s,
                "maestro.ttft_ms": round(attempt.ttft_s * 1000, 2) if attempt.ttft_s is not None else None,
                "gen_ai.request.model": attempt.model,
                "gen_ai.usage.input_tokens": o.input_tokens if answered else None,
                "gen_ai.usage.output_tokens": o.output_tokens if answered else None,
            },
        )
