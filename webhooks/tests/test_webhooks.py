"""Webhooks: signatures a receiver can verify, deliveries retried with backoff over real HTTP,
replays, the SSRF guard, and the events emitted by draft transitions and budget alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from authors.models import Author
from console.tests.factories import make_budget, make_webhook
from gateway.budgets.windows import record_crossings, windows_for_call
from gateway.catalog import load_catalog
from reviews.models import Draft, DraftState
from reviews.services import transition
from tenants.context import tenant_scope
from tenants.roles import Role
from webhooks import delivery as webhook_delivery
from webhooks import services as webhooks
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.tasks import deliver_webhook
from webhooks.tests.receiver import receiver

pytestmark = pytest.mark.django_db


def documented_verify(secret: str, body: str, header: str, tolerance: int = 300) -> bool:
    """The receiver's check exactly as docs/console.md describes it, written independently."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def _endpoint(tenant, url, events=("draft.approved",)) -> tuple[WebhookEndpoint, str]:
    with tenant_scope(tenant):
        return webhooks.webhook_endpoint_create(url=url, events=list(events))


def _delivery(tenant, endpoint) -> WebhookDelivery:
    with tenant_scope(tenant):
        [delivery] = webhooks.webhook_event_emit(tenant=tenant, event="draft.approved", data={"draft_id": 1})
        return delivery


def test_signature_verifies_with_the_documented_algorithm_and_fails_when_tampered():
    body = '{"event":"draft.ready"}'
    header = webhook_delivery.sign(secret="whsec_abc", body=body, timestamp=int(time.time()))
    assert documented_verify("whsec_abc", body, header)
    assert webhook_delivery.verify(secret="whsec_abc", body=body, header=header)
    assert not documented_verify("whsec_other", body, header)
    assert not documented_verify("whsec_abc", body.replace("ready", "approved"), header)
    old = webhook_delivery.sign(secret="whsec_abc", body=body, timestamp=int(time.time()) - 3600)
    assert not webhook_delivery.verify(secret="whsec_abc", body=body, header=old)


def test_secret_is_stored_encrypted(tenant_a):
    endpoint, secret = _endpoint(tenant_a, "https://hooks.example.test/x")
    assert secret.startswith("whsec_")
    assert secret not in endpoint.secret_encrypted
    assert endpoint.secret() == secret


def test_delivery_retries_with_backoff_until_the_receiver_accepts(tenant_a):
    with receiver(500, 503, 200) as hook:
        endpoint, secret = _endpoint(tenant_a, hook.url)
        delivery = _delivery(tenant_a, endpoint)
        result = deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])  # retries run inline
    assert result.get() == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert [a["status_code"] for a in delivery.attempt_log] == [500, 503, 200]
    assert delivery.attempt_log[0]["error"] == "HTTP 500"
    assert delivery.delivered_at is not None
    assert delivery.next_retry_at is None
    assert len(hook.received) == 3
    for request in hook.received:
        assert request.headers["X-Maestro-Event"] == "draft.approved"
        assert request.headers["X-Maestro-Delivery"] == str(delivery.pk)
        assert documented_verify(secret, request.body, request.headers["X-Maestro-Signature"])
    payload = json.loads(hook.received[-1].body)
    assert (payload["event"], payload["tenant"], payload["data"]) == (
        "draft.approved",
        "tenant-a",
        {"draft_id": 1},
    )


def test_a_failed_attempt_schedules_the_next_one_with_exponential_backoff(tenant_a):
    with receiver(500) as hook:
        endpoint, _ = _endpoint(tenant_a, hook.url)
        delivery = _delivery(tenant_a, endpoint)
        rng = random.Random(1)
        with tenant_scope(tenant_a):
            first = webhook_delivery.webhook_attempt(delivery=delivery, rng=rng)
            second = webhook_delivery.webhook_attempt(delivery=delivery, rng=rng)
    assert 15 <= first.retry_in <= 30
    assert 30 <= second.retry_in <= 60
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.next_retry_at > timezone.now() + timedelta(seconds=25)


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(
            webhook_delivery.BACKOFF_CAP_SECONDS, webhook_delivery.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
        )
        assert ceiling / 2 <= webhook_delivery.backoff_seconds(attempt, rng) <= ceiling


def test_delivery_gives_up_after_six_attempts(tenant_a):
    with receiver(500) as hook:
        endpoint, _ = _endpoint(tenant_a, hook.url)
        delivery = _delivery(tenant_a, endpoint)
        result = deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])
    assert result.get() == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(hook.received)) == (DeliveryStatus.FAILED, 6, 6)


def test_replay_sends_the_same_event_again_as_a_new_delivery(client_for, members_a, tenant_a):
    with receiver(200) as hook:
        endpoint, secret = _endpoint(tenant_a, hook.url)
        delivery = _delivery(tenant_a, endpoint)
        deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])
        client = client_for(members_a[Role.ADMIN])
        response = client.post(f"/t/{tenant_a.slug}/console/deliveries/{delivery.pk}/replay/")
        assert response.status_code == 302
        with tenant_scope(tenant_a):
            replay = WebhookDelivery.objects.get(replay_of=delivery)
        deliver_webhook.apply(args=[tenant_a.pk, str(replay.pk)])
    assert replay.event_id == delivery.event_id
    assert len(hook.received) == 2
    assert hook.received[0].body == hook.received[1].body
    assert hook.received[1].headers["X-Maestro-Delivery"] == str(replay.pk)
    assert documented_verify(secret, hook.received[1].body, hook.received[1].headers["X-Maestro-Signature"])


def test_send_test_event_button(client_for, members_a, tenant_a):
    with receiver(204) as hook:
        endpoint, _ = _endpoint(tenant_a, hook.url)
        client_for(members_a[Role.ADMIN]).post(f"/t/{tenant_a.slug}/console/webhooks/{endpoint.pk}/test/")
        with tenant_scope(tenant_a):
            delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])
    assert json.loads(hook.received[0].body)["event"] == "webhook.test"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_internal_addresses_are_refused_when_private_http_is_not_allowed(
    tenant_a, settings, client_for, members_a
):
    with receiver(200) as hook:
        endpoint, _ = _endpoint(tenant_a, hook.url)
        delivery = _delivery(tenant_a, endpoint)
        settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
        result = deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])
        form = client_for(members_a[Role.ADMIN]).post(
            f"/t/{tenant_a.slug}/console/webhooks/", {"url": hook.url, "events": ["draft.ready"]}
        )
    assert result.get() == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "internal address" in delivery.last_error
    assert hook.received == []
    assert "internal address" in form.content.decode()


def test_events_go_only_to_active_endpoints_of_the_tenant_subscribed_to_them(tenant_a, tenant_b):
    subscribed = make_webhook(tenant=tenant_a, events=["draft.approved"])
    make_webhook(tenant=tenant_a, events=["budget.alert"])
    inactive = make_webhook(tenant=tenant_a, events=["draft.approved"])
    WebhookEndpoint.objects.unscoped().filter(pk=inactive.pk).update(is_active=False)
    make_webhook(tenant=tenant_b, events=["draft.approved"])
    with tenant_scope(tenant_a):
        deliveries = webhooks.webhook_event_emit(tenant=tenant_a, event="draft.approved", data={})
    assert [d.endpoint_id for d in deliveries] == [subscribed.pk]


def test_draft_transitions_emit_ready_approved_and_rejected_on_commit(
    tenant_a, members_a, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda *args: sent.append(args))
    make_webhook(tenant=tenant_a, events=["draft.ready", "draft.rejected"])
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ada")
        draft = Draft.objects.create(author=author, flow_name="post")
        with django_capture_on_commit_callbacks(execute=True):
            transition(draft, DraftState.READY, actor=None)
            transition(draft, DraftState.IN_REVIEW, actor=members_a[Role.WRITER].user)
            transition(draft, DraftState.REJECTED, actor=members_a[Role.WRITER].user, reason="Off brand")
        deliveries = list(WebhookDelivery.objects.order_by("created_at"))
    assert [d.event for d in deliveries] == ["draft.ready", "draft.rejected"]
    assert deliveries[1].payload["data"]["reason"] == "Off brand"
    assert deliveries[1].payload["data"]["draft_id"] == draft.pk
    assert [args[1] for args in sent] == [str(d.pk) for d in deliveries]


def test_a_budget_crossing_emits_a_budget_alert(tenant_a, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda *args: sent.append(args))
    make_webhook(tenant=tenant_a, events=["budget.alert"])
    budget = make_budget(tenant=tenant_a, scope="tenant", limit="1", alert_thresholds=[0.5, 1.0])
    [active] = windows_for_call(load_catalog(tenant_a, fresh=True), user_id=None, author_id=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert record_crossings(tenant_a, active, 400_000, 600_000) == [0.5]
        assert record_crossings(tenant_a, active, 400_000, 600_000) == []  # once per period
    with tenant_scope(tenant_a):
        [delivery] = WebhookDelivery.objects.all()
    data = delivery.payload["data"]
    assert (delivery.event, data["budget_id"], data["threshold"], data["spent_micros"]) == (
        "budget.alert",
        budget.pk,
        0.5,
        600_000,
    )
    assert Decimal(data["limit_micros"]) == 1_000_000
    assert len(sent) == 1
