"""The bookkeeping a call leaves behind: `drain` returns only once every trace is stored, including a
batch whose insert the timer had already started."""

from __future__ import annotations

import asyncio
import threading
import time

from gateway import background
from gateway.background import Background


def test_drain_waits_for_the_batch_the_timer_is_already_inserting(monkeypatch):
    started, stored = threading.Event(), []

    def slow_insert(traces):
        started.set()
        time.sleep(0.3)  # a slow database: the insert is still running when drain is called
        stored.extend(traces)

    monkeypatch.setattr(background, "_insert_traces", slow_insert)

    async def scenario():
        work = Background(flush_seconds=0.01)
        await work.add_trace("trace-1")  # type: ignore[arg-type]  # the insert is replaced: any value
        while not started.is_set():  # the timer fired and its batch is in the insert
            await asyncio.sleep(0.005)
        await work.drain()
        return list(stored)

    assert asyncio.run(scenario()) == ["trace-1"]


def test_a_trace_added_while_a_batch_is_being_inserted_goes_in_the_next_one(monkeypatch):
    batches: list[list[str]] = []
    started = threading.Event()

    def slow_insert(traces):
        started.set()
        time.sleep(0.1)
        batches.append(list(traces))

    monkeypatch.setattr(background, "_insert_traces", slow_insert)

    async def scenario():
        work = Background(flush_seconds=0.01)
        await work.add_trace("first")  # type: ignore[arg-type]
        while not started.is_set():
            await asyncio.sleep(0.005)
        await work.add_trace("second")  # type: ignore[arg-type]
        await work.drain()

    asyncio.run(scenario())
    assert batches == [["first"], ["second"]]
