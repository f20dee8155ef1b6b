"""Webhooks: which endpoints an event goes to, how a body is signed, and one delivery attempt.

    webhook_event_emit(tenant=..., event="draft.approved", data={...})   # inside the writer's transaction
        -> one WebhookDelivery per active endpoint subscribed to the event,
           each sent by the `deliver_webhook` Celery task once the transaction commits.

Signature header: `X-Maestro-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`,
computed afresh on every attempt (see docs/console.md for how a receiver verifies it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from console.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from orchestrator.crypto import encrypt_secret
from tenants.models import Tenant

logger = logging.getLogger("maestro.webhooks")

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "Maestro-Webhooks/1"


# ---- signing ------------------------------------------------------------------------------------


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


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


# ---- endpoints ----------------------------------------------------------------------------------


def webhook_endpoint_create(
    *, url: str, events: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its secret in plain text: the only time anyone sees it."""
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url, events=events, description=description, secret_encrypted=encrypt_secret(secret)
    )
    return endpoint, secret


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    endpoint.secret_encrypted = encrypt_secret(secret)
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


# ---- events and deliveries ----------------------------------------------------------------------


def _body(*, tenant: Tenant, event: str, event_id: str, data: dict) -> dict:
    return {
        "id": event_id,
        "event": event,
        "created_at": timezone.now().isoformat(),
        "tenant": tenant.slug,
        "data": data,
    }


def _enqueue(delivery: WebhookDelivery) -> None:
    from console.tasks import deliver_webhook

    tenant_id, delivery_id = delivery.tenant_id, str(delivery.pk)
    transaction.on_commit(lambda: deliver_webhook.delay(tenant_id, delivery_id))


def webhook_event_emit(*, tenant: Tenant, event: str, data: dict) -> list[WebhookDelivery]:
    """Record a delivery per subscribed endpoint, sent once the caller's transaction commits.
    Called inside the tenant's scope."""
    endpoints = WebhookEndpoint.objects.filter(is_active=True, events__contains=[event])
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(endpoint=endpoint, event=event)
        delivery.payload = _body(tenant=tenant, event=event, event_id=str(delivery.event_id), data=data)
        delivery.save()
        _enqueue(delivery)
        deliveries.append(delivery)
    return deliveries


def webhook_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = WebhookDelivery(endpoint=endpoint, event=WebhookEvent.TEST)
    data = {"message": "A test event from Maestro's console."}
    delivery.payload = _body(
        tenant=endpoint.tenant, event=delivery.event, event_id=str(delivery.event_id), data=data
    )
    delivery.save()
    _enqueue(delivery)
    return delivery


def webhook_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's body again as a new delivery (same event id, so receivers can deduplicate)."""
    replay = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event=delivery.event,
        event_id=delivery.event_id,
        payload=delivery.payload,
        replay_of=delivery,
    )
    _enqueue(replay)
    return replay


# ---- one attempt --------------------------------------------------------------------------------


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
        # No redirects: a redirect could lead past the address check to an internal service.
        response = httpx.post(endpoint.url, content=body.encode(), headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return response.status_code, error


def webhook_attempt(*, delivery: WebhookDelivery, rng: random.Random | None = None) -> AttemptOutcome:
    """Send the delivery once and record the attempt; says whether and when to try again."""
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return AttemptOutcome(delivered=delivery.status == DeliveryStatus.DELIVERED, retry_in=None)
    # Imported here: orchestrator.flows imports the gateway, whose budgets module imports this one.
    from orchestrator.flows.steps import StepFailedError, check_outbound_url

    endpoint = delivery.endpoint
    started = time.perf_counter()
    permanent = False
    try:
        check_outbound_url(endpoint.url)
    except StepFailedError as exc:
        status_code, error, permanent = None, f"refused: {exc}", True
    else:
        status_code, error = _post(endpoint, delivery)
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


# ---- hooks called from shared code (orchestrator.reviews, orchestrator.gateway.budgets) ----------

DRAFT_EVENTS = {
    "ready": WebhookEvent.DRAFT_READY,
    "approved": WebhookEvent.DRAFT_APPROVED,
    "rejected": WebhookEvent.DRAFT_REJECTED,
}


def draft_transition_emit(*, draft, from_state: str, actor_id: int | None, reason: str) -> None:
    """From `orchestrator.reviews.transition`, inside its transaction: deliveries go out on commit."""
    event = DRAFT_EVENTS.get(draft.state)
    if event is None:
        return
    data = {
        "draft_id": draft.pk,
        "author_id": draft.author_id,
        "flow_name": draft.flow_name,
        "state": draft.state,
        "previous_state": from_state,
        "actor_id": actor_id,
    }
    if event == WebhookEvent.DRAFT_REJECTED:
        data["reason"] = reason
    webhook_event_emit(tenant=draft.tenant, event=event, data=data)


def budget_alert_emit(*, tenant: Tenant, active, threshold: float, spent_micros: int) -> None:
    """From `orchestrator.gateway.budgets.record_crossings`, in the tenant's scope, once per crossing.
    Never lets a webhook problem disturb the gateway's accounting."""
    budget = active.budget
    data = {
        "budget_id": budget.id,
        "scope": budget.scope,
        "period": budget.period,
        "user_id": budget.user_id,
        "author_id": budget.author_id,
        "threshold": threshold,
        "limit_micros": budget.limit_micros,
        "spent_micros": spent_micros,
        "period_start": active.starts_at.isoformat(),
        "resets_at": active.window.resets_at.isoformat(),
    }
    try:
        with transaction.atomic():
            webhook_event_emit(tenant=tenant, event=WebhookEvent.BUDGET_ALERT, data=data)
    except Exception:
        logger.exception("could not record budget.alert webhooks for tenant %s", tenant.pk)


def webhook_endpoint_save(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()  # its deliveries go with it
