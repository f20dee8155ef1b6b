"""The trace explorer's CSV export: the rows its filters select, newest first, without prompt or
response text (those stay in the console, behind the tenant's redaction and retention settings)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from common.money import micros_to_units
from gateway.models import Trace

COLUMNS = [
    "created_at", "call_id", "purpose", "step", "flow_run_id", "prompt_version_id", "model", "status",
    "error_code", "input_tokens", "output_tokens", "usage_estimated", "cost", "latency_ms", "ttft_ms",
    "cache_hit", "streamed", "redacted", "attempts", "user", "author_id", "api_key_id",
]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer writes into this and gets the line back, so rows stream one at a time."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> object:
    # A text cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return "" if value is None else value


def _row(trace: Trace) -> list[object]:
    return [
        trace.created_at.isoformat(),
        str(trace.pk),
        trace.purpose,
        trace.step,
        trace.flow_run_id,
        trace.prompt_version_id,
        trace.model_alias,
        trace.status,
        trace.error_code,
        trace.input_tokens,
        trace.output_tokens,
        trace.usage_estimated,
        f"{micros_to_units(trace.cost_micros):.6f}",
        trace.latency_ms,
        trace.ttft_ms,
        trace.cache_hit,
        trace.streamed,
        trace.redacted,
        len(trace.attempts or []),
        trace.user.email if trace.user else "",
        trace.author_id,
        trace.api_key_id,
    ]


def trace_csv_lines(traces: QuerySet[Trace]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    rows: Iterable[Trace] = traces.defer("prompt", "response", "routing").iterator(chunk_size=2000)
    for trace in rows:
        yield writer.writerow([_cell(v) for v in _row(trace)])
