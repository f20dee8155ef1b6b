"""Every Redis client Maestro opens comes from here, so all of them survive a Redis restart alike.

A client checks its connection before use when it has been idle (`health_check_interval`), and retries
a command that failed on a broken connection, reconnecting with a short backoff: after a Redis blip the
first command on a stale pooled connection succeeds instead of failing the request or the run.

Timeouts depend on what the client is for: a blocking stream read (live progress) waits longer than
its longest `XREAD BLOCK`; a health probe gives up fast.
"""

from __future__ import annotations

from typing import Literal

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

Purpose = Literal["default", "blocking", "probe"]

# (socket timeout, connect timeout) in seconds. "blocking" reads block for up to 15 s (SSE).
TIMEOUTS: dict[str, tuple[float, float]] = {
    "default": (5.0, 2.0),
    "blocking": (60.0, 5.0),
    "probe": (1.0, 1.0),
}
HEALTH_CHECK_SECONDS = 15
RETRIES = 3
RETRY_ON = [RedisConnectionError, RedisTimeoutError]


def redis_client(*, url: str | None = None, purpose: Purpose = "default") -> redis.Redis:
    """A synchronous client (views, tasks, selectors)."""
    socket_timeout, connect_timeout = TIMEOUTS[purpose]
    return redis.Redis.from_url(
        url or settings.REDIS_URL,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES if purpose != "probe" else 0),
        retry_on_error=RETRY_ON,
    )


def async_redis_client(
    *, url: str | None = None, purpose: Purpose = "default", max_connections: int | None = None
) -> aioredis.Redis:
    """An asyncio client (the gateway's runtime, async views)."""
    socket_timeout, connect_timeout = TIMEOUTS[purpose]
    return aioredis.Redis.from_url(
        url or settings.REDIS_URL,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES if purpose != "probe" else 0),
        retry_on_error=RETRY_ON,
        max_connections=max_connections,
    )
