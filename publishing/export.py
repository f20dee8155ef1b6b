"""Posts of a date range as Markdown (to read or paste), CSV (a spreadsheet, a CRM import) or JSON.

The fields are the webhooks' (`services.post_payload`), plus the post's metrics when it has them.
CSV cells that a spreadsheet would run as a formula (=, +, -, @ first) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from publishing.models import ScheduledPost
from publishing.services import post_payload

FORMATS = {"markdown": "text/markdown", "csv": "text/csv", "json": "application/json"}
EXTENSIONS = {"markdown": "md", "csv": "csv", "json": "json"}
METRIC_FIELDS = ("impressions", "reactions", "comments", "reposts")
CSV_FIELDS = (
    "post_id",
    "draft_id",
    "author_id",
    "author_name",
    "channel",
    "status",
    "scheduled_at",
    "delivered_at",
    "external_id",
    "external_url",
    *METRIC_FIELDS,
    "text",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def rows(posts: Iterable[ScheduledPost]) -> list[dict]:
    result = []
    for post in posts:
        row = post_payload(post)
        metrics = getattr(post, "metrics", None)  # the reverse one-to-one raises AttributeError when absent
        for name in METRIC_FIELDS:
            row[name] = getattr(metrics, name) if metrics is not None else None
        result.append(row)
    return result


def to_json(data: list[dict]) -> str:
    return json.dumps({"posts": data}, indent=2, ensure_ascii=False)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def to_csv(data: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for row in data:
        writer.writerow([_cell(row.get(name)) for name in CSV_FIELDS])
    return buffer.getvalue()


def post_markdown(row: dict) -> str:
    when = row["delivered_at"] or row["scheduled_at"]
    where = f" · [{row['external_id']}]({row['external_url']})" if row["external_url"] else ""
    if row["external_id"] and not row["external_url"]:
        where = f" · {row['external_id']}"
    heading = f"## {row['author_name']} · {when[:16].replace('T', ' ')} UTC · {row['status']}{where}"
    return f"{heading}\n\n{row['text']}\n"


def to_markdown(data: list[dict], *, title: str) -> str:
    if not data:
        return f"# {title}\n\nNo posts.\n"
    return f"# {title}\n\n" + "\n".join(post_markdown(row) for row in data)


def render(data: list[dict], *, fmt: str, title: str) -> str:
    if fmt == "csv":
        return to_csv(data)
    if fmt == "json":
        return to_json(data)
    return to_markdown(data, title=title)
