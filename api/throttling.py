"""Each API key's own requests-per-minute limit on /api/v1/, shared by every process through Redis.

A fixed one-minute window (INCR + EXPIRE) is enough for a request count; the model calls behind
/v1/chat/completions are limited by the gateway itself (per-key tokens and requests per minute,
token buckets), so those views do not count here as well. Session users are not throttled here.
"""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings
from rest_framework.throttling import BaseThrottle

from common.redis import redis_client

_local = threading.local()


def _client() -> redis.Redis:
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = redis_client()
    return client


def _prefix() -> str:
    return getattr(settings, "MAESTRO_GATEWAY", {}).get("key_prefix", "maestro")


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = getattr(request.auth, "api_key", None)
        if key is None or key.requests_per_minute <= 0:
            return True
        now = time.time()
        window = int(now // 60)
        name = f"{_prefix()}:api:rpm:{key.pk}:{window}"
        pipe = _client().pipeline()
        pipe.incr(name)
        pipe.expire(name, 61)
        count, _ = pipe.execute()
        self._wait = 60 - (now % 60)
        return count <= key.requests_per_minute

    def wait(self) -> float:
        return self._wait
