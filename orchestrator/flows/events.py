"""Progress of a run, as a Redis stream per run: step started/finished, text deltas, the end.

A stream (not pub/sub) so that a browser that connects late, or reconnects, reads
what it missed from its last event id; entries expire with the key an hour after
the last event.
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import redis
from django.conf import settings

from common.redis import redis_client

STREAM_TTL_SECONDS = 3600
MAX_EVENTS = 5000
_local = threading.local()


def _client() -> redis.Redis:
    client = getattr(_local, "client", None)
    if client is None:
        # Reads block for up to 15 s (SSE): the socket must wait longer than that.
        client = _local.client = redis_client(purpose="blocking")
    return client


def stream_key(run_id: int) -> str:
    # Run ids restart at 1 in every database (dev, tests, benchmarks) while Redis may be shared:
    # the database name keeps their streams apart.
    return f"maestro:{settings.DATABASES['default']['NAME']}:flow:{run_id}"


def publish(run_id: int, kind: str, **data) -> None:
    key = stream_key(run_id)
    pipe = _client().pipeline(transaction=False)
    pipe.xadd(key, {"kind": kind, "data": json.dumps(data, default=str)}, maxlen=MAX_EVENTS, approximate=True)
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.execute()


def read(
    run_id: int, *, after: str = "0", block_ms: int | None = None, count: int = 200
) -> list[tuple[str, str, dict]]:
    """Events after the id `after` ("0": from the start), waiting up to block_ms for new ones."""
    reply = _client().xread({stream_key(run_id): after}, count=count, block=block_ms)
    # Our clients speak RESP2: [[key, [(id, fields), ...]], ...], or nothing when the wait ran out.
    streams = cast("list[list[Any]] | None", reply)
    events = []
    for _key, entries in streams or []:
        for event_id, fields in entries:
            events.append((event_id.decode(), fields[b"kind"].decode(), json.loads(fields[b"data"])))
    return events
