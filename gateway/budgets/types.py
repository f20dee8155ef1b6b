"""Values the budget ledger takes and returns. Money is in integer micros (1 USD = 1_000_000)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BudgetWindow:
    """One budget a call must fit in, e.g. the tenant's day or an author's month.

    `key` must change with the period ("tenant:42:month:2025-06"): counters are kept per key and
    expire a little after `resets_at`.
    """

    key: str
    limit_micros: int
    resets_at: datetime
    label: str

    def __post_init__(self) -> None:
        if self.resets_at.tzinfo is None:
            raise ValueError(f"Budget window {self.key!r}: resets_at must be timezone-aware")
        if self.limit_micros < 0:
            raise ValueError(f"Budget window {self.key!r}: limit_micros must not be negative")


@dataclass(frozen=True)
class Grant:
    """What `reserve` held on every window. `clamped`: less than wanted, so the caller must shrink
    the call (e.g. its max_tokens) to cost at most `granted_micros`."""

    reservation_id: str
    granted_micros: int
    clamped: bool


@dataclass(frozen=True)
class WindowSpend:
    """A window's figures. After `settle`, `spent_before_micros` is the spend just before this call's
    cost was added, so exactly one settle sees each threshold crossed; elsewhere it equals spent."""

    label: str
    key: str
    limit_micros: int
    spent_micros: int
    reserved_micros: int
    resets_at: datetime
    spent_before_micros: int

    @property
    def remaining_micros(self) -> int:
        return self.limit_micros - self.spent_micros - self.reserved_micros

    def crossed(self, percents: Iterable[int] = (80, 100)) -> list[int]:
        """The thresholds (percent of the limit) this settle crossed, for alerts sent exactly once."""
        # Integer maths: 80% of a limit must not miss by a float rounding.
        return [
            percent
            for percent in percents
            if self.spent_before_micros * 100 < percent * self.limit_micros <= self.spent_micros * 100
        ]
