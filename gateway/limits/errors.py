"""Errors raised by the shared limits; all derive from `LimitError` so the gateway can catch them at once."""

from __future__ import annotations

import math
from datetime import datetime


class LimitError(Exception):
    """A shared limit refused the call."""


class BudgetExceeded(LimitError):  # noqa: N818 -- named for the outcome, as callers catch it
    """Not even the minimum cost of the call fits in a budget window."""

    def __init__(
        self,
        *,
        window_label: str,
        window_key: str,
        limit_micros: int,
        spent_micros: int,
        reserved_micros: int,
        resets_at: datetime,
    ) -> None:
        self.window_label = window_label
        self.window_key = window_key
        self.limit_micros = limit_micros
        self.spent_micros = spent_micros
        self.reserved_micros = reserved_micros
        self.resets_at = resets_at
        super().__init__(
            f"Budget {window_label!r} ({window_key}) is exhausted: {spent_micros} spent and "
            f"{reserved_micros} reserved of {limit_micros} micros; it resets at {resets_at.isoformat()}"
        )

    @property
    def available_micros(self) -> int:
        return self.limit_micros - self.spent_micros - self.reserved_micros


class UnknownReservation(LimitError):  # noqa: N818 -- named for the outcome, as callers catch it
    """Settling a reservation the ledger has no record of (never made, or its record expired)."""

    def __init__(self, reservation_id: str) -> None:
        self.reservation_id = reservation_id
        super().__init__(f"No budget reservation {reservation_id!r}: never made, or its record expired")


class RateLimited(LimitError):  # noqa: N818 -- named for the outcome, as callers catch it
    """A bucket is short of tokens now; trying again after `retry_after_seconds` can succeed."""

    def __init__(self, *, bucket_label: str, bucket_key: str, retry_after_seconds: float) -> None:
        self.bucket_label = bucket_label
        self.bucket_key = bucket_key
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"Rate limit {bucket_label!r} reached; retry after {retry_after_seconds:.2f}s")

    @property
    def retry_after_header(self) -> str:
        """The value for an HTTP Retry-After header: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after_seconds)))


class RequestExceedsCapacity(LimitError):  # noqa: N818 -- named for the outcome, as callers catch it
    """The request needs more than a bucket can ever hold: waiting will never help."""

    def __init__(self, *, bucket_label: str, bucket_key: str, requested: int, capacity: int) -> None:
        self.bucket_label = bucket_label
        self.bucket_key = bucket_key
        self.requested = requested
        self.capacity = capacity
        super().__init__(
            f"Request needs {requested} from rate limit {bucket_label!r}, which holds at most {capacity}: "
            "it can never pass; make the request smaller"
        )
