"""Sending one webhook delivery: signing, the HTTP attempt, and the backoff between attempts."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.utils import timezone

from common.net import OutboundURLRefusedError, guarded_client
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("maestro.webhooks")

MAX_ATTEMPTS = 6


BACKOFF_BASE_SECONDS = 30


BACKOFF_CAP_SECONDS = 3600


TIMEOUT = httpx.Timeout(10.0, connect=5.0)


SIGNATURE_TOLERANCE_SECONDS = 300


USER_AGENT = "Maestro-Webhooks/1"


def sign(*, secret: str, body: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    *,
    secret: str,
    body: str,
    header: str,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (documented in docs/console.md); used by our tests as the reference."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped, with jitter in [50%, 100%]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in: float | None  # seconds until the next attempt; None: no more attempts


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Maestro-Event": delivery.event,
        "X-Maestro-Delivery": str(delivery.pk),
        "X-Maestro-Signature": sign(secret=endpoint.secret(), body=body, timestamp=int(time.time())),
    }
    try:
        # The guarded client connects only to the address it checked (common/net.py) and follows no
        # redirects: a redirect could lead past the address check to an internal service.
        with guarded_client(timeout=TIMEOUT) as client:
            response = client.post(endpoint.url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return response.status_code, error


def webhook_attempt(*, delivery: WebhookDelivery, rng: random.Random | None = None) -> AttemptOutcome:
    """Send the delivery once and record the attempt; says whether and when to try again."""
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return AttemptOutcome(delivered=delivery.status == DeliveryStatus.DELIVERED, retry_in=None)
    endpoint = delivery.endpoint
    started = time.perf_counter()
    permanent = False
    try:
        status_code, error = _post(endpoint, delivery)
    except OutboundURLRefusedError as exc:
        status_code, error, permanent = None, f"refused: {exc}", True
    return _record(delivery, status_code, error, permanent=permanent, started=started, rng=rng)


def _record(delivery, status_code, error, *, permanent, started, rng) -> AttemptOutcome:
    now = timezone.now()
    delivery.attempts += 1
    delivery.attempt_log = [
        *delivery.attempt_log,
        {
            "at": now.isoformat(),
            "status_code": status_code,
            "error": error,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    ]
    delivery.last_status_code, delivery.last_error = status_code, error
    retry_in = None
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_retry_at = DeliveryStatus.DELIVERED, now, None
    elif permanent or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_retry_at = DeliveryStatus.FAILED, None
    else:
        retry_in = backoff_seconds(delivery.attempts, rng)
        delivery.status, delivery.next_retry_at = DeliveryStatus.RETRYING, now + timedelta(seconds=retry_in)
    delivery.save()
    if error:
        logger.info("webhook delivery %s attempt %s: %s", delivery.pk, delivery.attempts, error)
    return AttemptOutcome(delivered=not error, retry_in=retry_in)
