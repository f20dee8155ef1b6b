"""The stored record of each call: written once when the call ends (or is refused), and, for a call
whose process died before it ended, rebuilt from the journal of calls in flight.

The journal (`CallJournal`, two Redis keys per prefix) gets an entry *before* a provider is asked, the
call's whole trace once the provider has answered (before the caller has the answer), and loses the
entry once the trace is stored. An entry left behind well past the call's own deadline belonged to a
process that was killed mid-call: the provider was asked (and may bill), so `reconcile_lost_calls`
(run by the sweeper) writes it down as an `interrupted` trace, charges its lower-bound cost (the
prompt that was sent) to the budgets it reserved, and forgets it. An entry with a trace left behind
belonged to a process killed between answering and its bookkeeping: that trace is stored as it was
and its cost settled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from redis.asyncio import Redis

from common.redis import async_redis_client
from common.text import sanitise
from gateway.budgets import BudgetLedger
from gateway.budgets.windows import spent_in_window
from gateway.limits.errors import UnknownReservation
from gateway.limits.round_trip import Command, run_together
from gateway.models import LLMModel, Trace, TraceStatus
from gateway.redaction import redact
from gateway.runtime import GatewayConfig
from tenants.models import Tenant, User

if TYPE_CHECKING:
    from gateway.core import AttemptRecord, Call
    from gateway.types import GatewayError

logger = logging.getLogger("maestro.gateway")
INTERRUPTED = "interrupted"

REFUSALS = {"input_too_large", "rate_limited", "budget_exceeded", "no_model_available", "bad_request"}


def _stored_text(call: Call) -> tuple[list[dict], str, bool]:
    policy = call.catalog.policy if hasattr(call, "catalog") else None
    if policy is not None and not policy.store_prompts:
        return [], "", False
    # A refused prompt may hold text PostgreSQL cannot store (that is why it was refused): kept cleaned.
    messages = [{"role": m.role, "content": sanitise(m.content)} for m in call.request.messages]
    response = sanitise(call.text)
    if policy is not None and policy.redact_traces and policy.redact_prompts and call.redacted_messages:
        # The provider was sent these messages redacted by the same rules: the trace keeps that text.
        outgoing, sent_mapping = call.redacted_messages
        messages = [{"role": m.role, "content": m.content} for m in outgoing]
        return messages, redact(response, mapping=sent_mapping, rules=policy.redaction).text, True
    if policy is not None and policy.redact_traces:
        mapping: dict[str, str] = {}
        for message in messages:
            result = redact(message["content"], mapping=mapping, rules=policy.redaction)
            message["content"], mapping = result.text, result.mapping
        return messages, redact(response, mapping=mapping, rules=policy.redaction).text, True
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
        prompt_version_id=request.prompt_version_id,
        status=_status(error),
        error_code=error.code if error else "",
        error_message=sanitise(error.message) if error else "",
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


# ---- calls in flight ---------------------------------------------------------------------------


class CallJournal:
    """Calls whose provider request may be under way: `record` before each attempt is sent, `forget`
    when the call's trace is handed over. Entries are scored by when they are overdue (the call's
    deadline), so the sweeper reads only the ones whose process must have died."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.index_key = f"{prefix}:calls:inflight"  # sorted set: call id -> deadline (epoch seconds)
        self.data_key = f"{prefix}:calls:inflight:data"  # hash: call id -> entry (JSON)

    async def record(self, call_id: str, entry: dict[str, Any], *, deadline: float) -> None:
        await run_together(self.redis, self.record_parts(call_id, entry, deadline=deadline))

    def record_parts(self, call_id: str, entry: dict[str, Any], *, deadline: float) -> list[Command]:
        """`record`'s commands, to send with other parts in one round trip."""
        return [
            Command(("HSET", self.data_key, call_id, json.dumps(entry, default=str))),
            Command(("ZADD", self.index_key, deadline, call_id)),
        ]

    async def forget(self, call_id: str) -> None:
        await self.forget_many([call_id])

    async def forget_many(self, call_ids: list[str]) -> None:
        await run_together(self.redis, self.forget_parts(call_ids))

    def forget_parts(self, call_ids: list[str]) -> list[Command]:
        """`forget_many`'s commands, to send with other parts in one round trip."""
        if not call_ids:
            return []
        return [Command(("HDEL", self.data_key, *call_ids)), Command(("ZREM", self.index_key, *call_ids))]

    async def overdue(self, before: float, *, limit: int = 200) -> list[dict[str, Any]]:
        ids = await self.redis.zrangebyscore(self.index_key, "-inf", before, start=0, num=limit)
        if not ids:
            return []
        call_ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        values = await self.redis.hmget(self.data_key, call_ids)
        entries = []
        for call_id, value in zip(call_ids, values, strict=True):
            if value is None:  # half-forgotten (a crash between the two deletes)
                await self.redis.zrem(self.index_key, call_id)
                continue
            entries.append(json.loads(value))
        return entries


def journal_entry(
    call: Call,
    *,
    model_id: int,
    model_alias: str,
    input_cost_micros: int,
    upcoming: AttemptRecord | None = None,
) -> dict[str, Any]:
    """What the sweeper needs to write the call down if its process dies during this attempt.
    `upcoming` is the attempt's record when the entry is written before the attempt is in the call's
    list (with the call's admission)."""
    request = call.request
    attempts = call.attempts_record()
    if upcoming is not None:
        attempts.append(dict(vars(upcoming)))
    return {
        "call_id": str(request.call_id),
        "tenant_id": request.tenant.pk,
        "user_id": request.user_id,
        "api_key_id": request.api_key_id,
        "author_id": request.author_id,
        "purpose": request.purpose,
        "flow_run_id": request.flow_run_id,
        "step": request.step,
        "prompt_version_id": request.prompt_version_id,
        "streamed": call.stream,
        "started_at": time.time() - (time.perf_counter() - call.started),
        "model_id": model_id,
        "model_alias": model_alias,
        "prompt_tokens": call.prompt_tokens,
        # Spent by earlier attempts of this call, plus what this one costs at the least (its prompt).
        "spent_micros": call.spent_micros,
        "input_cost_micros": input_cost_micros,
        "reserved": call.reservation_id is not None,
        "routing": call.routing_record(),
        "attempts": attempts,
    }


# A trace's fields as the journal keeps them for an answered call; the rest are set when it is stored.
_ANSWERED_FIELDS = [f.attname for f in Trace._meta.concrete_fields if f.attname not in ("id", "created_at")]


def answered_entry(trace: Trace, *, reserved: bool, started_at: float) -> dict[str, Any]:
    """The journal entry of a call the provider answered, written before the caller has the answer:
    its whole trace and whether a budget reservation waits for its cost. If the process dies before
    its bookkeeping (settle, trace insert) ran, the sweeper writes this trace and settles the cost."""
    return {
        "call_id": str(trace.pk),
        "tenant_id": trace.tenant_id,
        "started_at": started_at,
        "answered_at": time.time(),
        "reserved": reserved,
        "trace": {name: getattr(trace, name) for name in _ANSWERED_FIELDS},
    }


def answered_trace(entry: dict[str, Any]) -> Trace:
    return Trace(id=uuid.UUID(entry["call_id"]), **entry["trace"])


def lost_trace(entry: dict[str, Any], *, now: float) -> Trace:
    attempts = list(entry.get("attempts") or [])
    for attempt in attempts:
        if attempt.get("status") == "started":
            attempt["status"] = INTERRUPTED
            attempt["error"] = "its process stopped before the provider answered"
    return Trace(
        tenant_id=entry["tenant_id"],
        id=uuid.UUID(entry["call_id"]),
        user_id=entry.get("user_id"),
        api_key_id=entry.get("api_key_id"),
        author_id=entry.get("author_id"),
        purpose=entry.get("purpose", ""),
        flow_run_id=entry.get("flow_run_id"),
        step=entry.get("step", ""),
        prompt_version_id=entry.get("prompt_version_id"),
        status=TraceStatus.ERROR,
        error_code=INTERRUPTED,
        error_message=(
            "The process making this call stopped (killed or restarted) while the provider was asked; "
            "the provider may have billed it. Cost: the prompt's, at the least (estimated)."
        ),
        routing=entry.get("routing") or {},
        attempts=attempts,
        model_id=entry.get("model_id"),
        model_alias=entry.get("model_alias", ""),
        input_tokens=entry.get("prompt_tokens", 0),
        usage_estimated=True,
        cost_micros=int(entry.get("spent_micros", 0)) + int(entry.get("input_cost_micros", 0)),
        latency_ms=round((now - float(entry.get("started_at", now))) * 1000, 2),
        streamed=bool(entry.get("streamed")),
    )


def _insert_lost(trace: Trace, started_at: float) -> bool:
    # The sweeper writes calls of every tenant; each trace names its own tenant.
    traces = Trace.objects.unscoped()
    if traces.filter(pk=trace.pk).exists():
        return False  # the call did end and was traced; only its journal entry was left behind
    if not Tenant.objects.filter(pk=trace.tenant_id).exists():
        return False  # the tenant is gone, and its traces with it
    # The model or the user may have been deleted since: the trace keeps the alias, not the link.
    if trace.model_id is not None and not LLMModel.objects.unscoped().filter(pk=trace.model_id).exists():
        trace.model_id = None
    if trace.user_id is not None and not User.objects.filter(pk=trace.user_id).exists():
        trace.user_id = None
    traces.bulk_create([trace], ignore_conflicts=True)
    traces.filter(pk=trace.pk).update(created_at=datetime.fromtimestamp(started_at, tz=UTC))
    return True


async def _reconcile(now: float, prefix: str) -> int:
    grace = float(getattr(settings, "MAESTRO_LOST_CALL_GRACE_SECONDS", 30))
    client = async_redis_client()
    try:
        journal = CallJournal(client, prefix)
        ledger = BudgetLedger(client, prefix=prefix, load_spent=sync_to_async(spent_in_window))
        written = 0
        for entry in await journal.overdue(now - grace):
            answered = "trace" in entry  # the provider answered; the process died before its bookkeeping
            trace = answered_trace(entry) if answered else lost_trace(entry, now=now)
            written_at = float(entry.get("answered_at" if answered else "started_at", now))
            try:
                inserted = await sync_to_async(_insert_lost)(trace, written_at)
            except Exception:  # one entry that cannot be written must not hold up the others
                logger.exception("interrupted call %s could not be traced; dropped: %s", trace.pk, entry)
                await journal.forget(entry["call_id"])
                continue
            if inserted:
                written += 1
                how = "answered, then its process died" if answered else "interrupted (its process died)"
                logger.warning("gateway call %s was %s; traced", trace.pk, how)
                if entry.get("reserved"):
                    # the hold turns into the spend we know of; the rest goes back. A settle its process
                    # made before dying wins (only the first settle counts); if the record expired, the
                    # trace (the source of truth) still counts it.
                    with contextlib.suppress(UnknownReservation):
                        await ledger.settle(entry["call_id"], trace.cost_micros)
            await journal.forget(entry["call_id"])
        return written
    finally:
        await client.aclose()


def reconcile_lost_calls(*, now: float | None = None, prefix: str | None = None) -> int:
    """Write down calls whose process died mid-call (the sweeper calls this); returns how many."""
    key_prefix = prefix or GatewayConfig.from_settings().key_prefix
    return async_to_sync(_reconcile)(now if now is not None else time.time(), key_prefix)
