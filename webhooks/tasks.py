"""Webhook deliveries on Celery: one attempt per run, retried with backoff by the task itself."""

from __future__ import annotations

from celery import shared_task

from tenants.task_scope import task_tenant_scope
from webhooks.delivery import MAX_ATTEMPTS, webhook_attempt
from webhooks.models import WebhookDelivery


# The name it had before webhooks became an app of their own: deliveries already queued still run.
@shared_task(name="console.tasks.deliver_webhook", bind=True, acks_late=True, max_retries=MAX_ATTEMPTS - 1)
def deliver_webhook(self, tenant_id: int, delivery_id: str) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
        if delivery is None:
            return "delivery gone"
        outcome = webhook_attempt(delivery=delivery)
    if outcome.delivered:
        return "delivered"
    if outcome.retry_in is None:
        return "failed"
    # The delay (and the attempt count) live on the delivery row; Celery only schedules the next run.
    raise self.retry(countdown=outcome.retry_in, max_retries=MAX_ATTEMPTS - 1)
