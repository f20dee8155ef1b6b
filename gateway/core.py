"""One gateway call from request to trace.

    limits -> redaction -> routing -> rate limits -> budget reservation
      -> attempts (retry with backoff and jitter, fallback along the chain, circuit breakers)
      -> settle cost, reconcile tokens, alerts -> trace

Non-streamed and streamed calls share one attempt loop: a non-streamed attempt
is turned into the same events a stream produces.

Nothing is paid for and lost (docs/reliability.md): text that cannot be stored is refused before any
limit, charge or provider; each attempt is written to the journal of calls in flight before it is sent
(gateway/tracing.py), so a process killed mid-call still leaves a record; the call has one deadline
that every attempt, wait and fallback counts against; and a caller that stops listening (it closed the
stream, or its task was cancelled because its client went away) stops the chain and closes the
request to the provider, which the trace records as `cancelled`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from asgiref.sync import sync_to_async

from common.money import micros_to_units
from common.net import private_networks_allowed
from common.text import text_problem
from gateway import tracing
from gateway.budgets import windows as budget_windows
from gateway.cache import (
    CacheLookup,
    CacheScope,
    cache_count_hit,
    cache_lookup,
    cache_store,
    request_context_digest,
    request_text_for,
)
from gateway.catalog import ModelEntry, TenantCatalog, cached_catalog, load_catalog
from gateway.limits import (
    Bucket,
    BudgetExceeded,
    CircuitState,
    HealthSample,
    RateLimited,
    RequestExceedsCapacity,
    SlotsBusy,
)
from gateway.limits.round_trip import Command, Part, ScriptCall, run_together
from gateway.models import Trace
from gateway.observability import report_call
from gateway.providers import build_provider
from gateway.providers.base import (
    ChatRequest,
    ErrorKind,
    Message,
    ProviderError,
    StreamEvent,
    StreamEventKind,
    Timeouts,
    Usage,
)
from gateway.redaction import Redaction, redact, restore
from gateway.resilience import NextModel, Retry, Stop, decide, timeouts_for
from gateway.router_model import call as router_call
from gateway.router_model.features import router_text
from gateway.routing import (
    Candidate,
    LearnedVerdict,
    NoRouteError,
    RoutePolicy,
    RouteRequest,
    RoutingDecision,
    route,
)
from gateway.runtime import Runtime
from gateway.tokens import estimate_prompt_tokens, estimate_text_tokens, max_prompt_tokens
from gateway.types import GatewayError, GatewayRequest, GatewayResponse, GatewayStreamEvent
from telemetry.tracing import current_context

logger = logging.getLogger("maestro.gateway")


def _db(function):
    """Run an ORM function from async code on Django's one sync thread (same connection as the caller)."""
    return sync_to_async(function, thread_sensitive=True)


@dataclass
class AttemptRecord:
    model: str
    status: str  # "ok", an ErrorKind, or "skipped"
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    error: str = ""
    waited_s: float = 0.0
    queued_s: float = 0.0  # in line for one of the model's concurrency slots, before the call was sent
    started_s: float = 0.0  # when it was sent, in seconds since the call began (for its span)


class Call:
    """The state of one call; `events()` drives it and yields gateway stream events."""

    def __init__(self, request: GatewayRequest, runtime: Runtime, *, stream: bool) -> None:
        self.request = request
        self.runtime = runtime
        self.config = runtime.config
        self.stream = stream
        self.started = time.perf_counter()
        self.started_ns = time.time_ns()  # the wall clock, for the call's span (telemetry)
        self.span_parent = current_context()  # the span (flow step, request) this call belongs to
        self.attempts: list[AttemptRecord] = []
        self.redaction = Redaction(text="")
        self.outgoing: list[Message] = request.messages
        self.outgoing_document: str | None = request.document  # for base models (prompt_format "document")
        # The messages as redaction left them and its mapping then (before the document's values): the
        # trace stores the same redaction instead of doing it again (tracing._stored_text).
        self.redacted_messages: tuple[list[Message], dict[str, str]] | None = None
        # Built once the provider answered: journaled before the answer, then stored (`finish`).
        self.answered_trace: Trace | None = None
        self.decision: RoutingDecision | None = None
        self.windows: list[budget_windows.ActiveWindow] = []
        self.reservation_id: str | None = None
        self.granted_micros: int | None = None
        self.spent_micros = 0
        self.charged_tokens = 0
        self.buckets: list[Bucket] = []
        self.text = ""
        self.ttft: float | None = None
        self.final_model: ModelEntry | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.circuits: dict = {}
        self.asked_breaker: set[str] = set()  # models whose attempt the breaker itself admitted
        self.success_health: tuple | None = None
        self.cache_scope: CacheScope | None = None
        self.cache_lookup: CacheLookup | None = None
        self.cached_text: str | None = None
        self.cache_hit_alias = ""
        self.raw_answer = ""  # the provider's text before restoring redacted values: what the cache keeps
        self.router_record: dict = {}  # the learned router's say, for the trace (router_model/call.py)
        self.deadline_s = self.config.timeouts.call_deadline
        self.deadline = self.started + self.deadline_s  # on time.perf_counter()'s clock
        self.journal = tracing.CallJournal(runtime.redis, self.config.key_prefix)
        self.journaled = False  # an entry in the journal of calls in flight waits to be forgotten
        self.journaled_ahead: str | None = None  # the model the admission journaled a first attempt on
        self.reserved_wanted = 0  # micros the budget hold asked for
        # The attempt under way and the text it has produced: if the caller leaves, `finish` closes it.
        self.live: tuple[AttemptRecord, ModelEntry, float] | None = None
        self.live_text = ""

    # ---- preparation ------------------------------------------------------------------------
    async def prepare(self) -> None:
        catalog = cached_catalog(self.request.tenant.pk)  # no thread hop when fresh
        self.catalog: TenantCatalog = catalog or await _db(load_catalog)(self.request.tenant)
        self._check_input()
        if self.catalog.policy.redact_prompts:
            self._redact_outgoing()
        self.prompt_tokens = estimate_prompt_tokens(self.outgoing)
        self.prompt_tokens_bound = max_prompt_tokens(self.outgoing)
        self.max_tokens = self.request.max_tokens or self.config.default_max_tokens
        if await self._look_in_cache():
            return
        await self._route()
        await self._admit()

    # ---- semantic cache ---------------------------------------------------------------------------
    async def _look_in_cache(self) -> bool:
        """Serve an earlier answer to the same request (same tenant and scope) at zero cost."""
        if not self.request.cacheable:
            return False
        self.cache_scope = CacheScope(
            tenant_id=self.catalog.tenant_id,
            purpose=self.request.purpose,
            prompt_version_id=self.request.prompt_version_id,
            model_class=self.request.model or "",
            author_id=self.request.author_id,
            profile_version=self.request.profile_version,
            context_digest=request_context_digest(
                self.outgoing,
                redaction_mapping=self.redaction.mapping,
                max_tokens=self.max_tokens,
                temperature=self.request.temperature,
            ),
        )
        self.cache_text = request_text_for(self.outgoing)
        off = self.catalog.policy.cache_off_reason(self.request.purpose)
        if off is not None:  # known from the catalog: no thread hop to ask the cache, nothing to store
            self.cache_lookup, self.cache_scope = CacheLookup(reason=off), None
            return False
        if not self.request.cache_read:  # asked for a fresh answer: not served, but kept for next time
            self.cache_lookup = CacheLookup(reason="a fresh answer was asked for (regenerate or revision)")
            return False
        self.cache_lookup = await _db(cache_lookup)(
            scope=self.cache_scope, request_text=self.cache_text, count_hit=False
        )
        hit = self.cache_lookup.hit
        if hit is None:
            return False
        self.cached_text = restore(hit.response_text, self.redaction.mapping)
        self.usage = Usage(hit.input_tokens, hit.output_tokens)
        self.cache_hit_alias = hit.model_alias
        return True

    def _check_input(self) -> None:
        size = sum(len(m.content) for m in self.request.messages)
        limit = self.catalog.policy.max_prompt_chars
        if size > limit:
            raise GatewayError(
                "input_too_large",
                f"The prompt has {size} characters; this tenant allows at most {limit}.",
                http_status=413,
                details={"limit": limit, "size": size},
            )
        if not self.request.messages:
            raise GatewayError("bad_request", "A call needs at least one message.", http_status=400)
        for index, message in enumerate(self.request.messages):
            reason = text_problem(message.content)
            if reason:  # it could never be traced: refuse it before anything is charged or sent
                raise GatewayError(
                    "bad_request",
                    f"Message {index} ({message.role}) {reason}; remove it and send the text again.",
                    http_status=400,
                    details={"message": index},
                )

    def _redact_outgoing(self) -> None:
        mapping: dict[str, str] = {}
        outgoing = []
        rules = self.catalog.policy.redaction
        for message in self.request.messages:
            result = redact(message.content, mapping=mapping, rules=rules)
            mapping = result.mapping
            outgoing.append(Message(role=message.role, content=result.text))
        self.redacted_messages = (outgoing, dict(mapping))
        if self.outgoing_document is not None:
            document = redact(self.outgoing_document, mapping=mapping, rules=rules)
            mapping, self.outgoing_document = document.mapping, document.text
        self.outgoing = outgoing
        self.redaction = Redaction(text="", mapping=mapping)

    async def _route(self) -> None:
        keys = [_model_key(m) for m in self.catalog.models]
        health, circuits = await self.runtime.model_states(keys)
        self.circuits = circuits
        candidates = [
            _candidate(model, snapshot, circuits.get(_model_key(model)))
            for model, snapshot in zip(self.catalog.models, health, strict=True)
        ]
        self.windows = budget_windows.windows_for_call(
            self.catalog, user_id=self.request.user_id, author_id=self.request.author_id
        )
        policy = RoutePolicy(
            allowed_aliases=self.catalog.policy.allowed_aliases,
            preference=self.catalog.policy.preference,
            default_tiers=self.catalog.policy.default_tiers,
            budget_left_fraction=await self._budget_left_fraction(),
            chains=self.catalog.policy.fallback_chains,
        )
        user_text = " ".join(m.content for m in self.outgoing if m.role == "user")[-4000:]
        route_request = RouteRequest(
            purpose=self.request.purpose,
            prompt_tokens=self.prompt_tokens,
            min_output_tokens=min(self.config.min_output_tokens, self.max_tokens),
            requested=self.request.model,
            complexity=self.request.complexity,
            text=user_text,
            learned=await self._learned_verdict(),
        )
        try:
            self.decision = route(route_request, candidates, policy)
        except NoRouteError as exc:
            raise GatewayError(
                "no_model_available", str(exc), http_status=503, details={"excluded": exc.excluded}
            ) from exc
        self.health_by_alias = {c.alias: s for c, s in zip(self.catalog.models, health, strict=True)}

    async def _learned_verdict(self) -> LearnedVerdict | None:
        """The learned router's score for this call; None when the rules route it (off, shadow, skipped)."""
        config = self.catalog.router
        if config is None:
            return None
        skip = router_call.skip_reason(
            config,
            requested=self.request.model,
            complexity=self.request.complexity,
            purpose=self.request.purpose,
            default_tiers=self.catalog.policy.default_tiers,
        )
        if skip:
            self.router_record = router_call.trace_record(config, skip)
            return None
        text = router_text(self.outgoing)
        embedding = router_call.shared_embedding(
            text,
            cache_text=getattr(self, "cache_text", None),
            cache_embedding=self.cache_lookup.embedding if self.cache_lookup is not None else None,
        )
        score = functools.partial(
            router_call.verdict_for_call, config, text=text, purpose=self.request.purpose, embedding=embedding
        )
        # Scoring a shared embedding takes microseconds; embedding takes milliseconds of CPU: off the loop.
        outcome = score() if embedding is not None else await sync_to_async(score, thread_sensitive=False)()
        self.router_record = router_call.trace_record(config, outcome)
        if isinstance(outcome, str) or not config.acts:
            return None
        comparison = "<" if outcome.strong else ">="
        return LearnedVerdict(
            strong=outcome.strong,
            summary=f"score {outcome.score:.3f} {comparison} threshold {outcome.threshold:.3f} "
            f"(router {outcome.version})",
        )

    async def _budget_left_fraction(self) -> float | None:
        if not self.windows:
            return None
        return await self.runtime.budget_left_fraction([w.window for w in self.windows])

    async def _admit(self) -> None:
        """Take the call's rate limits, hold its budget and journal its first attempt, in one Redis
        round trip (`limits.round_trip`). The parts run independently: when one refuses, what the
        others took is given back (`_undo_admission`; the token estimate by `finish`), so a refused
        call leaves nothing to charge."""
        buckets, costs = self._rate_limit_buckets()
        try:
            limits = self.runtime.limiter.acquire_call(buckets, costs)
        except RequestExceedsCapacity as exc:
            raise GatewayError(
                "input_too_large",
                f"This call needs {exc.requested} tokens but the {exc.bucket_label} limit is {exc.capacity}: "
                "it could never pass. Lower max_tokens or shorten the prompt.",
                http_status=413,
                details={"limit": exc.bucket_label},
            ) from exc
        hold = self._reservation_call()
        first = self._model(self._routed().chain[0].alias)
        journal = self._journal_parts(first, upcoming=AttemptRecord(model=first.alias, status="started"))
        parts = [part for part in (limits, hold) if part is not None]
        replies = await run_together(self.runtime.redis, [*parts, *journal])
        self.journaled, self.journaled_ahead = True, first.alias
        try:
            if limits is not None:
                self._check_rate_limits(buckets, replies[0])
            if hold is not None:
                await self._grant(hold, replies[parts.index(hold)])
        except GatewayError as refused:
            await self._undo_admission(refused, hold)
            raise

    async def _undo_admission(self, refused: GatewayError, hold: ScriptCall | None) -> None:
        """What a refused call's admission took that `finish` would give back only later, given back
        now, in one round trip: its journal entry, and the budget hold a rate-limit refusal made moot
        (a flood of refused calls must not keep holds that shut out the tenant's other calls)."""
        undo: list[Part] = [*self.journal.forget_parts([str(self.request.call_id)])]
        self.journaled, self.journaled_ahead = False, None
        if hold is not None and self.reservation_id is not None and refused.code == "rate_limited":
            undo.append(
                self.runtime.ledger.release_call(
                    self.reservation_id, windows=[w.window for w in self.windows]
                )
            )
            self.reservation_id = None
        await run_together(self.runtime.redis, undo)

    def _rate_limit_buckets(self) -> tuple[list[Bucket], dict[str, int]]:
        policy = self.catalog.policy
        tenant_id = self.catalog.tenant_id
        self.charged_tokens = self.prompt_tokens + self.max_tokens
        specs = [
            (f"rl:tenant:{tenant_id}:tpm", policy.tokens_per_minute, "tenant tokens per minute", True),
            (f"rl:tenant:{tenant_id}:rpm", policy.requests_per_minute, "tenant requests per minute", False),
        ]
        if self.request.api_key_id:
            key_id = self.request.api_key_id
            specs += [
                (
                    f"rl:key:{key_id}:tpm",
                    self.request.api_key_tokens_per_minute,
                    "API key tokens per minute",
                    True,
                ),
                (
                    f"rl:key:{key_id}:rpm",
                    self.request.api_key_requests_per_minute,
                    "API key requests per minute",
                    False,
                ),
            ]
        buckets, costs = [], {}
        for key, per_minute, label, counts_tokens in specs:
            if per_minute <= 0:
                continue
            bucket = Bucket(key=key, capacity=per_minute, refill_per_second=per_minute / 60, label=label)
            buckets.append(bucket)
            costs[key] = self.charged_tokens if counts_tokens else 1
        return buckets, costs

    def _check_rate_limits(self, buckets: list[Bucket], reply: list) -> None:
        try:
            self.runtime.limiter.acquire_outcome(buckets, reply)
        except RateLimited as exc:
            raise GatewayError(
                "rate_limited",
                f"Rate limit reached ({exc.bucket_label}); retry in {exc.retry_after_seconds:.1f}s.",
                http_status=429,
                retry_after=exc.retry_after_seconds,
                details={"limit": exc.bucket_label},
            ) from exc
        self.buckets = [b for b in buckets if b.key.endswith(":tpm")]  # reconciled with the actual use

    def _reservation_call(self) -> ScriptCall | None:
        """The budget hold of the call's first model, or None when no budget applies. From here on
        the reservation counts as made (`finish` releases it if it was not)."""
        if not self.windows:
            return None
        decision = self._routed()
        first = self._model(decision.chain[0].alias)
        max_tokens = min(self.max_tokens, first.max_output_tokens)
        # The input is reserved at its upper bound: a reservation the actual cost can overrun is no limit.
        self.reserved_wanted = first.cost_micros(self.prompt_tokens_bound, max_tokens)
        minimum = first.cost_micros(self.prompt_tokens_bound, min(self.config.min_output_tokens, max_tokens))
        self.reservation_id = str(self.request.call_id)
        return self.runtime.ledger.reserve_call(
            self.reservation_id,
            [w.window for w in self.windows],
            wanted_micros=self.reserved_wanted,
            minimum_micros=minimum,
            ttl_seconds=self.config.reservation_ttl_seconds,
        )

    async def _grant(self, hold: ScriptCall, reply: list) -> None:
        try:
            grant = await self.runtime.ledger.reserve_outcome(
                hold, reply, [w.window for w in self.windows], wanted_micros=self.reserved_wanted
            )
        except BudgetExceeded as exc:
            self.reservation_id = None
            await self._record_exhausted(exc)
            raise GatewayError(
                "budget_exceeded",
                f"The {exc.window_label} is used up ({micros_to_units(exc.spent_micros):.4f} of "
                f"{micros_to_units(exc.limit_micros):.4f}); it resets at {exc.resets_at.isoformat()}.",
                http_status=402,
                details={"limit": exc.window_label, "resets_at": exc.resets_at.isoformat()},
            ) from exc
        self.granted_micros = grant.granted_micros
        if grant.clamped:
            self._routed().reasons.append(
                f"budget nearly used up: output limited to what {grant.granted_micros} micros buy"
            )

    async def _record_exhausted(self, exc: BudgetExceeded) -> None:
        """The refusal is the budget's "exhausted" alert (once per period; never raises)."""
        active = next((w for w in self.windows if w.window.key == exc.window_key), None)
        if active is not None:
            await _db(budget_windows.record_exhausted)(self.request.tenant, active, exc.spent_micros)

    def _routed(self) -> RoutingDecision:
        """The router's decision: everything that reads it runs after `_route`."""
        if self.decision is None:
            raise RuntimeError("the call has not been routed")
        return self.decision

    def _model(self, alias: str) -> ModelEntry:
        """A model of the routing chain, which the router picked from this catalog."""
        model = self.catalog.model(alias)
        if model is None:
            raise LookupError(f"model {alias!r} is not in the tenant's catalog")
        return model

    # ---- attempts ---------------------------------------------------------------------------
    def _max_tokens_for(self, model: ModelEntry) -> int:
        max_tokens = min(self.max_tokens, model.max_output_tokens)
        if self.granted_micros is not None:
            left = self.granted_micros - self.spent_micros
            affordable = model.affordable_output_tokens(left, self.prompt_tokens_bound)
            max_tokens = min(max_tokens, affordable)
        return max_tokens

    def _skip_reason(
        self, model: ModelEntry, last: NextModel | None, failed: ModelEntry | None
    ) -> str | None:
        if last and failed and last.needs_larger_context and model.context_window <= failed.context_window:
            return "context window not larger than the one that refused the prompt"
        if last and failed and last.needs_other_provider and model.provider_id == failed.provider_id:
            return "same provider as the one that refused the credential"
        if self._max_tokens_for(model) < min(self.config.min_output_tokens, self.max_tokens):
            return "budget reservation cannot pay for this model"
        return None

    async def events(self) -> AsyncIterator[GatewayStreamEvent]:
        if self.cached_text is not None:
            self.text = self.cached_text
            self.ttft = time.perf_counter() - self.started
            yield GatewayStreamEvent(kind="delta", text=self.cached_text)
            yield GatewayStreamEvent(kind="done", response=self.response())
            return
        last_action: NextModel | None = None
        failed: ModelEntry | None = None
        for candidate in self._routed().chain:
            self._check_deadline()
            model = self._model(candidate.alias)
            reason = self._skip_reason(model, last_action, failed)
            if reason is None and not await self._circuit_allows(model):
                reason = "circuit open"
            if reason:
                self.attempts.append(AttemptRecord(model=model.alias, status="skipped", error=reason))
                continue
            outcome = None
            async for item in self._attempts_on(model):
                if isinstance(item, GatewayStreamEvent):
                    yield item
                else:
                    outcome = item
            if outcome is None:  # success: the final event was yielded
                return
            last_action, failed = outcome, model
        raise GatewayError(
            "all_models_failed",
            "Every model in the routing chain failed or was unavailable; see the trace for each attempt.",
            http_status=503,
        )

    def _time_left(self) -> float:
        return self.deadline - time.perf_counter()

    def _check_deadline(self) -> None:
        if self._time_left() <= 0:
            tried = sum(1 for a in self.attempts if a.status != "skipped")
            raise GatewayError(
                "deadline_exceeded",
                f"The call reached its {self.deadline_s:g}s deadline after {tried} attempt(s); stopped.",
                http_status=504,
                details={"deadline_seconds": self.deadline_s},
            )

    async def _circuit_allows(self, model: ModelEntry) -> bool:
        key = _model_key(model)
        if self.circuits.get(key) == CircuitState.CLOSED:
            return True  # closed a moment ago: allow() would say yes without changing anything
        self.asked_breaker.add(key)  # a success may close a half-open circuit (a probe)
        return await self.runtime.breaker.allow(key)

    async def _attempts_on(self, model: ModelEntry):  # noqa: C901 - one retry loop; its branches are the error kinds
        """Yield stream events of successful output; yield a NextModel as the last item on giving up."""
        retries = 0
        while True:
            emitted = False
            try:
                async for event in self._one_attempt(model):
                    emitted = emitted or event.kind == "delta"
                    yield event
                return
            except SlotsBusy as busy:  # waited in line as long as allowed: the next model may be free
                self.attempts.append(
                    AttemptRecord(
                        model=model.alias,
                        status="slots_busy",
                        error=str(busy),
                        queued_s=round(busy.waited_seconds, 3),
                    )
                )
                yield NextModel(f"{model.alias}: {busy}")
                return
            except ProviderError as error:
                if emitted or self.text:
                    self.text = ""
                    yield GatewayStreamEvent(kind="restart", reason=f"{model.alias}: {error.kind}")
                action = decide(error, retries, self.config.retry, self.runtime.rng)
                if error.kind == ErrorKind.TIMEOUT and isinstance(action, Retry):
                    # A model that hung is likely to hang again: the next model is the better bet, and
                    # three full timeouts on one model would eat the deadline before any fallback.
                    action = NextModel(f"{model.alias} timed out: trying the next model")
                if isinstance(action, Stop):
                    code = "content_refused" if error.kind == "content_refused" else "provider_rejected"
                    raise GatewayError(code, f"{model.alias}: {action.reason}", http_status=422) from error
                if isinstance(action, NextModel):
                    yield action
                    return
                if not isinstance(action, Retry):  # pragma: no cover - decide() returns one of three
                    raise TypeError(f"unexpected retry decision {action!r}") from error
                if action.delay >= self._time_left():
                    yield NextModel(f"no time left for a retry on {model.alias} within the deadline")
                    return
                self.attempts[-1].waited_s = round(action.delay, 3)
                await asyncio.sleep(action.delay)
                retries += 1

    def _client_for(self, model: ModelEntry) -> httpx.AsyncClient:
        """The operator's providers use the shared pool; a tenant's own provider connects only to
        addresses the outbound-URL guard checked (unless the operator allows private networks)."""
        config = self.catalog.providers[model.provider_id]
        if config.operator or private_networks_allowed() or self.runtime.guarded_http is None:
            return self.runtime.http
        return self.runtime.guarded_http

    def _timeouts_for(self, model: ModelEntry, max_tokens: int) -> Timeouts:
        """The model's own deadlines, none of them past what is left of the call's."""
        snapshot = self.health_by_alias.get(model.alias)
        timeouts = timeouts_for(
            self.config.timeouts,
            max_tokens=max_tokens,
            stream=self.stream,
            tokens_per_second=getattr(snapshot, "tokens_per_second_ewma", None),
            ttft_s=getattr(snapshot, "ttft_ewma_s", None),
            shared_by=model.max_concurrency,  # its slots share one server's compute
        )
        left = max(0.001, self._time_left())
        if timeouts.total <= left:
            return timeouts
        return dataclasses.replace(
            timeouts,
            connect=min(timeouts.connect, left),
            first_token=min(timeouts.first_token, left),
            between_chunks=min(timeouts.between_chunks, left),
            total=left,
        )

    async def _journal(self, model: ModelEntry) -> None:
        """Write the attempt down before it is sent: if this process dies while the provider works,
        the sweeper still finds (and charges) the call. The first attempt's entry went with the
        call's admission (`_admit`) when it is on the model the entry names."""
        if self.journaled_ahead is not None:
            ahead, self.journaled_ahead = self.journaled_ahead, None
            if ahead == model.alias and len(self.attempts) == 1:
                return
        await run_together(self.runtime.redis, self._journal_parts(model))
        self.journaled = True

    def _journal_parts(self, model: ModelEntry, *, upcoming: AttemptRecord | None = None) -> list[Command]:
        """The journal entry of an attempt on `model`; `upcoming` is that attempt's record when it is
        written ahead, before the attempt is in `attempts`."""
        entry = tracing.journal_entry(
            self,
            model_id=model.id,
            model_alias=model.alias,
            input_cost_micros=model.cost_micros(self.prompt_tokens, 0),
            upcoming=upcoming,
        )
        overdue_at = time.time() + self._time_left()
        return self.journal.record_parts(str(self.request.call_id), entry, deadline=overdue_at)

    async def _journal_answer(self) -> None:
        """Put the call's trace in its journal entry before the caller has the answer: if this process
        dies before the bookkeeping stored it, the sweeper writes that trace and settles its cost."""
        trace = self.answered_trace = tracing.build_trace(self, None)
        entry = tracing.answered_entry(
            trace,
            reserved=self.reservation_id is not None,
            started_at=time.time() - (time.perf_counter() - self.started),
        )
        # Overdue once the trace should have been stored; the sweeper's grace comes on top.
        overdue_at = time.time() + self.config.trace_flush_seconds
        try:
            await self.journal.record(str(self.request.call_id), entry, deadline=overdue_at)
        except Exception:  # the answer still goes out; a crash now would be traced as interrupted
            logger.warning("could not journal the answer of call %s", self.request.call_id, exc_info=True)

    async def _one_attempt(self, model: ModelEntry) -> AsyncIterator[GatewayStreamEvent]:
        """One call to `model`, holding one of its concurrency slots when it has a limit. The wait in
        line comes first, so no provider timeout (first token, total) runs while the call waits."""
        slots = self.runtime.slots
        if not model.max_concurrency or slots is None:
            async for event in self._attempt_in_slot(model, queued_s=0.0):
                yield event
            return
        slot = await slots.acquire(
            _model_key(model),
            limit=model.max_concurrency,
            timeout=min(self.config.slot_wait_seconds, max(0.0, self._time_left())),  # the wait counts too
        )
        try:
            async for event in self._attempt_in_slot(model, queued_s=slot.waited_seconds):
                yield event
        finally:
            await slot.release()

    async def _attempt_in_slot(
        self, model: ModelEntry, *, queued_s: float
    ) -> AsyncIterator[GatewayStreamEvent]:
        provider = build_provider(self.catalog.providers[model.provider_id], self._client_for(model))
        max_tokens = self._max_tokens_for(model)
        timeouts = self._timeouts_for(model, max_tokens)
        chat = ChatRequest(
            model=model.model_name,
            messages=self.outgoing,
            max_tokens=max_tokens,
            temperature=self.request.temperature,
            stop=self.request.stop,
            response_schema=self.request.response_schema,
            schema_name=self.request.schema_name,
            frequency_penalty=self.request.frequency_penalty,
            prompt=self.outgoing_document if model.prompt_format == "document" else None,
        )
        record = AttemptRecord(model=model.alias, status="started", queued_s=round(queued_s, 3))
        self.attempts.append(record)
        await self._journal(model)
        started = time.perf_counter()
        record.started_s = round(started - self.started, 3)
        self.live, self.live_text = (record, model, started), ""
        restorer = _Restorer(self.redaction.mapping)
        partial = ""
        usage = None
        try:
            async for event in self._provider_events(provider, chat, timeouts):
                if event.kind == StreamEventKind.DELTA:
                    if record.ttft_ms is None:
                        record.ttft_ms = (time.perf_counter() - started) * 1000
                        self.ttft = self.ttft or (time.perf_counter() - self.started)
                    partial += event.text
                    self.live_text = partial
                    visible = restorer.feed(event.text)
                    if visible:
                        self.text += visible
                        yield GatewayStreamEvent(kind="delta", text=visible)
                elif event.kind == StreamEventKind.USAGE:
                    usage = event.usage
                elif event.kind == StreamEventKind.DONE:
                    self.finish_reason = event.finish_reason
        except ProviderError as error:
            await self._attempt_failed(model, record, started, error, partial or error.partial_text)
            raise
        except (GeneratorExit, asyncio.CancelledError):
            # The caller stopped listening: leaving here closes the provider's response (the adapters'
            # `finally`), so the upstream request ends now and no other model is tried.
            self._abandon_live()
            raise
        tail = restorer.flush()
        if tail:
            self.text += tail
            yield GatewayStreamEvent(kind="delta", text=tail)
        self.raw_answer = partial
        await self._attempt_succeeded(model, record, started, usage, partial)
        await self._journal_answer()
        yield GatewayStreamEvent(kind="done", response=self.response())

    async def _provider_events(self, provider, chat: ChatRequest, timeouts) -> AsyncIterator[StreamEvent]:
        if self.stream:
            async for event in provider.stream(chat, timeouts):
                yield event
            return
        result = await provider.complete(chat, timeouts)
        yield StreamEvent(kind=StreamEventKind.DELTA, text=result.text)
        if result.usage is not None:
            yield StreamEvent(kind=StreamEventKind.USAGE, usage=result.usage)
        yield StreamEvent(kind=StreamEventKind.DONE, finish_reason=result.finish_reason)

    def _abandon_live(self) -> None:
        """Record the attempt under way as cancelled, with the text it produced (billed). Once only:
        `finish` may get here before the attempt's own generator is closed."""
        if self.live is None:
            return
        (record, model, started), self.live = self.live, None
        if record.status != "started":
            return
        record.status = "cancelled"
        record.error = "the caller stopped waiting; the request to the provider was closed"
        record.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        if self.live_text:  # generated (and billed) before the caller left
            self.spent_micros += model.cost_micros(self.prompt_tokens, estimate_text_tokens(self.live_text))

    async def _attempt_failed(self, model, record, started, error: ProviderError, partial: str) -> None:
        record.status = str(error.kind)
        record.error = error.message[:500]
        record.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        if partial:  # the provider generated (and will bill) this much before failing
            self.spent_micros += model.cost_micros(self.prompt_tokens, estimate_text_tokens(partial))
        key = _model_key(model)
        await self.runtime.health.record(key, ok=False, latency_s=record.latency_ms / 1000)
        if error.retryable and error.kind != "rate_limited":
            await self.runtime.breaker.record_failure(key)
            self.runtime.forget_state(key)
            self.circuits.pop(key, None)

    async def _attempt_succeeded(self, model, record, started, usage: Usage | None, raw_text: str) -> None:
        elapsed = time.perf_counter() - started
        record.status = "ok"
        record.latency_ms = round(elapsed * 1000, 2)
        if usage is None:
            usage = Usage(self.prompt_tokens, estimate_text_tokens(raw_text), estimated=True)
        self.usage = usage
        self.final_model = model
        self.spent_micros += model.cost_micros(usage.input_tokens, usage.output_tokens)
        ttft_s = record.ttft_ms / 1000 if record.ttft_ms is not None and self.stream else None
        self.success_health = (_model_key(model), elapsed, ttft_s, usage.output_tokens)

    # ---- completion -------------------------------------------------------------------------
    def response(self) -> GatewayResponse:
        usage = self.usage or Usage(0, 0)
        return GatewayResponse(
            call_id=self.request.call_id,
            text=self.text,
            model=self.final_model.alias if self.final_model else self.cache_hit_alias,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            usage_estimated=usage.estimated,
            cost=micros_to_units(self.spent_micros),
            latency_ms=round((time.perf_counter() - self.started) * 1000, 2),
            ttft_ms=round(self.ttft * 1000, 2) if self.ttft is not None else None,
            finish_reason=self.finish_reason,
            cache_hit=self.cached_text is not None,
            routing=self.routing_record(),
        )

    def routing_record(self) -> dict:
        record = self.decision.as_dict() if self.decision else {}
        if self.cache_lookup is not None:
            record["cache"] = self.cache_lookup.trace_record()
        if self.router_record:
            record["router"] = self.router_record
        return record

    async def finish(self, error: GatewayError | None) -> None:
        """Settle money and tokens, record health and write the trace, whatever happened; in the
        background, so the caller has its answer first (see background.py)."""
        if error is not None:
            self._abandon_live()  # the caller left (or the call failed) with an attempt under way
        trace = self.answered_trace if error is None else None
        if trace is not None:  # the journaled trace of the answer: only its latency has moved on
            trace.latency_ms = round((time.perf_counter() - self.started) * 1000, 2)
        else:
            trace = tracing.build_trace(self, error)
        looked_up = self.cache_lookup is not None
        report_call(trace, started_ns=self.started_ns, cache_looked_up=looked_up, parent=self.span_parent)
        self.runtime.background.spawn(self._bookkeeping(trace))

    async def _bookkeeping(self, trace) -> None:
        try:
            await self._settle()
            await self._store_in_cache()
            if self.success_health is not None:
                key, elapsed, ttft_s, output_tokens = self.success_health
                await self.runtime.background.add_health_sample(
                    HealthSample(key, ok=True, latency_s=elapsed, ttft_s=ttft_s, output_tokens=output_tokens)
                )
                if key in self.asked_breaker:  # a success changes only a half-open circuit
                    await self.runtime.breaker.record_success(key)
        finally:
            # The journal entry goes once the trace is in PostgreSQL, not when it joins a batch.
            await self.runtime.background.add_trace(trace, journal=self.journal if self.journaled else None)

    async def _settle(self) -> None:
        """Turn the budget hold into what the call spent (or release it) and bring the token buckets
        to the tokens actually used: one Redis round trip."""
        windows = [w.window for w in self.windows]  # those reserved: no need to read them back
        ledger = self.runtime.ledger
        budget: ScriptCall | None = None
        if self.reservation_id is not None:
            if self.spent_micros == 0:
                budget = ledger.release_call(self.reservation_id, windows=windows)
            else:
                budget = ledger.settle_call(self.reservation_id, self.spent_micros, windows=windows)
        delta = self._token_delta() if self.buckets else 0
        tokens = self.runtime.limiter.adjust_call(self.buckets, delta) if delta else None
        parts = [part for part in (budget, tokens) if part is not None]
        replies = await run_together(self.runtime.redis, parts)
        if budget is not None and self.spent_micros:
            await self._report_crossings(await ledger.settle_outcome(budget, replies[0], windows))

    def _token_delta(self) -> int:
        """Tokens used beyond the estimate taken at admission (negative: given back)."""
        used = (self.usage.input_tokens + self.usage.output_tokens) if self.usage else 0
        return used - self.charged_tokens

    async def _report_crossings(self, spends) -> None:
        by_key = {w.window.key: w for w in self.windows}
        for spend in spends:
            active = by_key.get(spend.key)
            if (
                active
                and spend.spent_before_micros is not None
                and budget_windows.thresholds_crossed(active, spend.spent_before_micros, spend.spent_micros)
            ):
                await _db(budget_windows.record_crossings)(
                    self.request.tenant, active, spend.spent_before_micros, spend.spent_micros
                )

    async def _store_in_cache(self) -> None:
        hit = self.cache_lookup.hit if self.cache_lookup is not None else None
        if hit is not None:  # counted after the answer went out
            await _db(cache_count_hit)(hit.entry_id)
            return
        if self.cache_scope is None or self.cached_text is not None:
            return
        if self.final_model is None or self.usage is None:  # no model answered (both are set together)
            return
        if self.finish_reason not in (None, "stop") or not self.raw_answer:
            return  # never cache a truncated answer
        await _db(cache_store)(
            scope=self.cache_scope,
            request_text=self.cache_text,
            response_text=self.raw_answer,
            model_alias=self.final_model.alias,
            input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.output_tokens,
            cost_micros=self.spent_micros,
            embedding=self.cache_lookup.embedding if self.cache_lookup else None,
        )

    def attempts_record(self) -> list[dict]:
        return [dict(vars(a)) for a in self.attempts]  # flat records: no deep copy needed


class _Restorer:
    """Puts redacted values back into streamed text, holding back a placeholder split across chunks."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.mapping:
            return text
        self.pending += text
        cut = self.pending.rfind("[")
        if cut != -1 and "]" not in self.pending[cut:] and len(self.pending) - cut < 24:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        else:
            ready, self.pending = self.pending, ""
        return self._restore(ready)

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return self._restore(ready)

    def _restore(self, text: str) -> str:
        for placeholder, original in self.mapping.items():
            text = text.replace(placeholder, original)
        return text


def _model_key(model) -> str:
    return f"model:{model.id}"


def _candidate(model: ModelEntry, snapshot, circuit) -> Candidate:
    return Candidate(
        model_id=model.id,
        alias=model.alias,
        provider_id=model.provider_id,
        provider_name=model.provider_name,
        tier=model.tier,
        input_price_per_mtok=model.input_price_per_mtok,
        output_price_per_mtok=model.output_price_per_mtok,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        circuit_open=circuit == CircuitState.OPEN,
        error_rate=getattr(snapshot, "error_rate", 0.0) or 0.0,
        latency_s=getattr(snapshot, "latency_ewma_s", None),
    )
