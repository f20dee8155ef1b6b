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

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from audit.services import record
from common.crypto import encrypt_secret
from common.net import OutboundURLRefusedError, check_outbound_url
from tenants.models import Tenant, User
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint, WebhookEvent
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


# ---- endpoints managed over the API: validated and audited -------------------------------------

ENDPOINT_FIELDS = ("url", "description", "events", "is_active")


def _endpoint_values(endpoint: WebhookEndpoint) -> dict:
    return {field: getattr(endpoint, field) for field in ENDPOINT_FIELDS}


def _clean_endpoint(*, url: str, events: list[str]) -> tuple[str, list[str]]:
    """An http(s) URL outside Maestro's network (common.net) and at least one event one can subscribe
    to: what the console's form checks."""
    errors: dict[str, str] = {}
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
        check_outbound_url(url)
    except ValidationError:
        errors["url"] = "Give an http(s) URL."
    except OutboundURLRefusedError as exc:
        errors["url"] = f"{exc}."
    allowed = {value for value, _ in SUBSCRIBABLE_EVENTS}
    unknown = sorted(set(events) - allowed)
    if not events:
        errors["events"] = "Choose at least one event."
    elif unknown:
        errors["events"] = f"Not an event one can subscribe to: {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    return url, sorted(set(events))


@transaction.atomic
def webhook_endpoint_add(
    *, url: str, events: list[str], description: str = "", actor: User | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint after checking it; returns it with its secret, shown this once."""
    url, events = _clean_endpoint(url=url, events=events)
    endpoint, secret = webhook_endpoint_create(url=url, events=events, description=description.strip())
    record(action="webhook.created", target=endpoint, actor=actor, after=_endpoint_values(endpoint))
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor: User | None = None, **changes
) -> WebhookEndpoint:
    """Change some of an endpoint's url, description, events and is_active."""
    unknown = set(changes) - set(ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError(f"A webhook endpoint has no field {', '.join(sorted(unknown))}.")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _endpoint_values(endpoint)
    url, events = _clean_endpoint(
        url=changes.get("url", endpoint.url), events=changes.get("events", endpoint.events)
    )
    endpoint.url, endpoint.events = url, events
    if "description" in changes:
        endpoint.description = changes["description"].strip()
    if "is_active" in changes:
        endpoint.is_active = changes["is_active"]
    webhook_endpoint_save(endpoint=endpoint)
    after = _endpoint_values(endpoint)
    if after != before:
        record(action="webhook.changed", target=endpoint, actor=actor, before=before, after=after)
    return endpoint


@transaction.atomic
def webhook_endpoint_remove(*, endpoint: WebhookEndpoint, actor: User | None = None) -> None:
    """Delete an endpoint and its deliveries log, leaving an audit event."""
    record(action="webhook.deleted", target=endpoint, actor=actor, before=_endpoint_values(endpoint))
    webhook_endpoint_delete(endpoint=endpoint)


@transaction.atomic
def webhook_secret_rotate(*, endpoint: WebhookEndpoint, actor: User | None = None) -> str:
    """A new signing secret (returned, shown this once); the old one stops signing at once."""
    secret = webhook_endpoint_rotate_secret(endpoint=endpoint)
    record(action="webhook.secret_rotated", target=endpoint, actor=actor)
    return secret
