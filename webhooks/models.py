"""Webhook endpoints a tenant registers, and every delivery to them."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from common.crypto import decrypt_secret
from tenants.scoping import TenantOwnedModel


class WebhookEvent(models.TextChoices):
    DRAFT_READY = "draft.ready", "Draft ready for review"
    DRAFT_APPROVED = "draft.approved", "Draft approved"
    DRAFT_REJECTED = "draft.rejected", "Draft rejected"
    BUDGET_ALERT = "budget.alert", "Budget alert threshold crossed"
    TTFT_ALERT = "latency.ttft_alert", "Time to first token p95 above its threshold, or back under it"
    POST_DELIVERED = "post.delivered", "Post delivered to its channel (LinkedIn, or a CRM marking it)"
    TEST = "webhook.test", "Test event"


SUBSCRIBABLE_EVENTS = [choice for choice in WebhookEvent.choices if choice[0] != WebhookEvent.TEST]


class WebhookEndpoint(TenantOwnedModel):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = ArrayField(models.CharField(max_length=40, choices=SUBSCRIBABLE_EVENTS), default=list)
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "console_webhookendpoint"  # kept from the app it moved from
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def secret(self) -> str:
        return decrypt_secret(self.secret_encrypted)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TenantOwnedModel):
    """One event sent to one endpoint; `attempt_log` records every try (time, status code, error)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4, help_text="Same for a delivery and its replays.")
    payload = models.JSONField(help_text="The exact body sent, as JSON.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "console_webhookdelivery"  # kept from the app it moved from
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "endpoint", "-created_at"], name="webhook_delivery_recent")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
