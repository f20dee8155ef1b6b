"""API keys this process has resolved recently, for the `/v1` front door (api/openai_asgi.py).

The front door serves a known key without a database query for `MAESTRO_API_KEY_CACHE_SECONDS` (5 s
by default). Revoking a key forgets it in the revoking process at once; other processes stop
serving it when their entry expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings


def cache_seconds() -> float:
    return float(getattr(settings, "MAESTRO_API_KEY_CACHE_SECONDS", 5.0))


@dataclass
class Resolved:
    principal: Any  # api.authentication.Principal (which imports this app's services)
    until: float  # monotonic
    touched: float  # monotonic time of the last recorded use


_resolved: dict[str, Resolved] = {}  # token digest -> what it resolved to


def resolved(digest: str) -> Resolved | None:
    entry = _resolved.get(digest)
    if entry is None or entry.until <= time.monotonic():
        return None
    return entry


def remember(digest: str, principal: Any) -> None:
    now = time.monotonic()
    _resolved[digest] = Resolved(principal, now + cache_seconds(), now)


def forget(digest: str | None = None) -> None:
    """Forget one token's key, or every key (None)."""
    if digest is None:
        _resolved.clear()
    else:
        _resolved.pop(digest, None)
