"""A clock for the gateway's Redis primitives that only the test moves (no Django imports: worker
processes of the multi-process tests import it too)."""

from __future__ import annotations


class ManualClock:
    """The time the gateway's Redis scripts see, in ms, moved only by the test (`clock=` of the
    limiter, breaker, health and ledger): a stalled machine cannot move it.

    Redis still expires keys on its own clock, so tests keep their keys' lifetimes long (minutes)."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += round(seconds * 1000)
