"""Webhooks: which endpoints an event goes to, how a body is signed, and one delivery attempt.

    webhook_event_emit(tenant=..., event="draft.approved", data={...})   # inside the writer's transaction
        -> one WebhookDelivery per active endpoint subscribed to the event,
           each sent by the `deliver_webhook` Celery task once the transaction commits.

Signature header: `X-Maestro-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`,
computed afresh on every attempt (see docs/console.md for how a receiver verifies it).
"""

from __future__ import annotations

import logging
import secrets

from django.db import transaction
from django.utils import timezone

from common.crypto import encrypt_secret
from tenants.models import Tenant
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.tasks import deliver_webhook

logger = logging.getLogger("maestro.webhooks")


# ---- signing ------------------------------------------------------------------------------------


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


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


# ---- events other apps emit (reviews.services names DRAFT_EVENTS; gateway.budgets.windows) ----

DRAFT_EVENTS = {
    "ready": WebhookEvent.DRAFT_READY,
    "approved": WebhookEvent.DRAFT_APPROVED,
    "rejected": WebhookEvent.DRAFT_REJECTED,
}


def budget_alert_emit(
    *, tenant: Tenant, active, threshold: float, spent_micros: int, kind: str = "threshold"
) -> None:
    """From `gateway.budgets.windows`, in the tenant's scope: once per crossing (`kind` "threshold"), and
    once per period when the hard cap first refuses a call ("exhausted", threshold 1.0).
    Never lets a webhook problem disturb the gateway's accounting."""
    budget = active.budget
    data = {
        "kind": kind,
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
