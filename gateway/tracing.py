"""The stored record of each call, written once when the call ends (or is refused)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.models import Trace, TraceStatus
from gateway.redaction import redact

if TYPE_CHECKING:
    from gateway.core import Call
    from gateway.types import GatewayError

REFUSALS = {"input_too_large", "rate_limited", "budget_exceeded", "no_model_available", "bad_request"}


def _stored_text(call: Call) -> tuple[list[dict], str, bool]:
    policy = call.catalog.policy if hasattr(call, "catalog") else None
    if policy is not None and not policy.store_prompts:
        return [], "", False
    messages = [{"role": m.role, "content": m.content} for m in call.request.messages]
    response = call.text
    if policy is not None and policy.redact_traces:
        mapping: dict[str, str] = {}
        for message in messages:
            result = redact(message["content"], mapping=mapping)
            message["content"], mapping = result.text, result.mapping
        return messages, redact(response, mapping=mapping).text, True
    return messages, response, False


def _status(error: GatewayError | None) -> str:
    if error is None:
        return TraceStatus.OK
    return TraceStatus.REFUSED if error.code in REFUSALS else TraceStatus.ERROR


def build_trace(call: Call, error: GatewayError | None) -> Trace:
    """The call's record, unsaved: the gateway inserts traces in batches (background.py)."""
    request = call.request
    prompt, response, redacted = _stored_text(call)
    usage = call.usage
    return Trace(
        tenant=request.tenant,
        id=request.call_id,
        user_id=request.user_id,
        api_key_id=request.api_key_id,
        author_id=request.author_id,
        purpose=request.purpose,
        flow_run_id=request.flow_run_id,
        step=request.step,
        status=_status(error),
        error_code=error.code if error else "",
        error_message=error.message if error else "",
        routing=call.routing_record(),
        attempts=call.attempts_record(),
        model_id=call.final_model.id if call.final_model else None,
        model_alias=call.final_model.alias if call.final_model else call.cache_hit_alias,
        prompt=prompt,
        response=response,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        usage_estimated=bool(usage and usage.estimated),
        cost_micros=call.spent_micros,
        latency_ms=round((time.perf_counter() - call.started) * 1000, 2),
        ttft_ms=round(call.ttft * 1000, 2) if call.ttft is not None else None,
        cache_hit=call.cached_text is not None,
        streamed=call.stream,
        redacted=redacted,
    )
