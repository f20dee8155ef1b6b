"""Work the caller need not wait for: settling, and batched trace inserts and health samples.

A call's answer goes back as soon as the provider is done; its bookkeeping runs
as a task on the same loop. Reservations stay held until settled, so deferring
the settle can only make budgets stricter, never looser. Traces are inserted in
batches (one round trip per batch); closing the runtime drains everything, so a
sync caller (`complete_sync`) returns only once its trace is stored. On an ASGI server the runtime
lives as long as the process and is drained at lifespan shutdown (config/asgi.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Protocol

from asgiref.sync import sync_to_async

from gateway.limits.health import HealthSample
from gateway.models import Trace

logger = logging.getLogger("maestro.gateway")


class Journal(Protocol):
    """Where a call was written down while in flight (`tracing.CallJournal`): its entry goes once the
    call's trace is stored."""

    index_key: str  # one journal per key: the calls of a batch are forgotten together

    async def forget_many(self, call_ids: list[str]) -> None: ...


class HealthRecorder(Protocol):
    async def record_all(self, samples: list[HealthSample]) -> None: ...


def _insert_traces(traces: list[Trace]) -> None:
    # Each trace carries the tenant the gateway set on it; the batch may hold several tenants. A trace
    # already there was written from the journal by the sweeper while this process stalled: the same call.
    Trace.objects.unscoped().bulk_create(traces, ignore_conflicts=True)


class Background:
    def __init__(
        self, *, flush_seconds: float, batch_size: int = 200, health: HealthRecorder | None = None
    ) -> None:
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.health = health
        self._samples: list[HealthSample] = []  # successes, recorded with the next batch of traces
        self._tasks: set[asyncio.Task] = set()
        self._traces: list[Trace] = []
        self._journaled: list[tuple[Journal, str]] = []  # entries to forget once the next batch is in
        self._flusher: asyncio.Task | None = None
        # One batch at a time: `drain` must wait for a batch the timer already took, not find an empty
        # list and return while that batch's insert is still running.
        self._flushing = asyncio.Lock()
        self._context: contextvars.Context | None = None

    def run_in(self, context: contextvars.Context) -> None:
        """Run bookkeeping in (a copy of) `context` rather than the caller's. An ASGI server's runtime
        passes its lifespan's: a request's context holds the executor of the request's own thread
        (asgiref), which is gone once the response is sent, so work left for later could not reach
        the database from it."""
        self._context = context

    def spawn(self, coroutine: Coroutine) -> None:
        context = self._context.copy() if self._context is not None else None
        task = asyncio.get_running_loop().create_task(coroutine, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("gateway bookkeeping failed", exc_info=task.exception())

    async def add_trace(self, trace: Trace, *, journal: Journal | None = None) -> None:
        """Store `trace` (in the next batch); once it is in the database, its call's entry in
        `journal` is forgotten (with the rest of the batch's, in one round trip)."""
        entry = [(journal, str(trace.pk))] if journal is not None else []
        if self.flush_seconds <= 0:
            await sync_to_async(_insert_traces, thread_sensitive=True)([trace])
            await _forget(entry)
            return
        self._traces.append(trace)
        self._journaled += entry
        if len(self._traces) >= self.batch_size:
            await self.flush_traces()
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def add_health_sample(self, sample: HealthSample) -> None:
        """A successful attempt's timing, for the router, recorded with the next batch (one round trip
        for all of them). Failures are recorded at once by the caller: they steer the next calls."""
        if self.health is None:
            return
        if self.flush_seconds <= 0:
            await self.health.record_all([sample])
            return
        self._samples.append(sample)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        self._flusher = None
        await self.flush_traces()

    async def flush_traces(self) -> None:
        async with self._flushing:
            await self._flush_batch()

    async def _flush_batch(self) -> None:
        batch, self._traces = self._traces, []
        journaled, self._journaled = self._journaled, []
        samples, self._samples = self._samples, []
        if samples and self.health is not None:
            try:
                await self.health.record_all(samples)
            except Exception:  # the router's picture misses these samples; the next ones fill it in
                logger.warning("could not record %d health sample(s)", len(samples), exc_info=True)
        if batch:
            await sync_to_async(_insert_traces, thread_sensitive=True)(batch)
        await _forget(journaled)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._flusher is not None:  # still asleep: a flusher that woke up has cleared this itself
            self._flusher.cancel()
            self._flusher = None
        await self.flush_traces()  # waits for a batch in flight, then stores what is left


async def _forget(entries: list[tuple[Journal, str]]) -> None:
    """Clear stored calls from their journals, one round trip per journal. Never raises: an entry left
    behind is found by the sweeper, which sees its trace is stored and only forgets it."""
    by_journal: dict[str, tuple[Journal, list[str]]] = {}
    for journal, call_id in entries:
        by_journal.setdefault(journal.index_key, (journal, []))[1].append(call_id)
    for journal, call_ids in by_journal.values():
        try:
            await journal.forget_many(call_ids)
        except Exception:
            logger.warning("could not clear %d stored call(s) from the journal", len(call_ids), exc_info=True)
