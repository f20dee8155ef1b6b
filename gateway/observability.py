"""What the gateway reports to telemetry: each call's metrics and spans when it ends (from its trace),
and, at every scrape of /metrics, the state of each model's circuit breaker."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync

from common.redis import async_redis_client
from gateway.limits import CircuitBreaker, CircuitState
from gateway.models import LLMModel, Trace
from gateway.runtime import GatewayConfig
from telemetry import metrics
from telemetry.observe import AttemptObservation, CallObservation, observe_call

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from prometheus_client.core import Metric

logger = logging.getLogger("maestro.gateway")
CIRCUIT_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def _attempt(record: dict) -> AttemptObservation:
    ttft_ms = record.get("ttft_ms")
    return AttemptObservation(
        model=str(record.get("model", "")),
        outcome=str(record.get("status", "")),
        started_s=float(record.get("started_s") or 0.0),
        latency_s=float(record.get("latency_ms") or 0.0) / 1000,
        ttft_s=ttft_ms / 1000 if ttft_ms is not None else None,
        error=str(record.get("error", "")),
        queued_s=float(record.get("queued_s") or 0.0),
    )


def call_observation(trace: Trace, *, started_ns: int, cache_looked_up: bool) -> CallObservation:
    return CallObservation(
        call_id=str(trace.pk),
        tenant_id=trace.tenant_id,
        tenant=trace.tenant.slug,
        purpose=trace.purpose,
        model=trace.model_alias,
        status=trace.status,
        error_code=trace.error_code,
        streamed=trace.streamed,
        started_ns=started_ns,
        latency_s=trace.latency_ms / 1000,
        ttft_s=trace.ttft_ms / 1000 if trace.ttft_ms is not None else None,
        input_tokens=trace.input_tokens,
        output_tokens=trace.output_tokens,
        cost=trace.cost_micros / 1_000_000,
        cache_looked_up=cache_looked_up,
        cache_hit=trace.cache_hit,
        prompt_version_id=trace.prompt_version_id,
        flow_run_id=trace.flow_run_id,
        step=trace.step,
        attempts=tuple(_attempt(a) for a in trace.attempts),
    )


def report_call(trace: Trace, *, started_ns: int, cache_looked_up: bool, parent: Context | None) -> None:
    """Never lets a telemetry problem reach the caller: the trace row is the record that counts."""
    try:
        observe_call(
            call_observation(trace, started_ns=started_ns, cache_looked_up=cache_looked_up), parent=parent
        )
    except Exception:
        logger.exception("telemetry of call %s failed", trace.pk)


# ---- circuit states, read at scrape time -----------------------------------------------------------


async def _circuit_states(keys: list[str]) -> dict[str, CircuitState]:
    config = GatewayConfig.from_settings()
    client = async_redis_client(purpose="probe")
    try:
        return await CircuitBreaker(client, prefix=config.key_prefix).states(keys)
    finally:
        await client.aclose()


def circuit_metrics() -> Iterable[Metric]:
    # Circuits are per model across all tenants (a shared model's breaker protects every tenant).
    models = list(LLMModel.objects.unscoped().filter(is_active=True).values_list("id", "alias", "tenant_id"))
    states = async_to_sync(_circuit_states)([f"model:{pk}" for pk, _, _ in models])
    family = metrics.gauge(
        "maestro_gateway_circuit_state",
        "Each active model's circuit breaker: 0 closed, 1 half-open (probing), 2 open.",
        ["model", "owner"],
    )
    for pk, alias, tenant_id in models:
        state = states.get(f"model:{pk}", CircuitState.CLOSED)
        family.add_metric([alias, str(tenant_id) if tenant_id else "shared"], CIRCUIT_VALUES[state])
    yield family
