"""Publishing on Celery: beat lists what is due; each attempt is a task of its own in its tenant's scope.

Retries are not Celery's: a failed attempt records when the next one is due on the post
(`next_attempt_at`, with backoff), and the next beat tick after that sends it again. A worker that dies
therefore loses nothing: the row says what is owed.

The exception is a LinkedIn token revocation that failed (publishing/revocation.py): Maestro has already
deleted its copy, so no row is left to say what is owed, and the task retries itself with backoff.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

from publishing import linkedin, metrics, revocation, series, services
from tenants.task_scope import task_tenant_scope

logger = logging.getLogger("maestro.publishing")

PUBLISH_DUE = "publishing.tasks.publish_due"
PUBLISH_POST = "publishing.tasks.publish_post"
COLLECT_METRICS_ALL = "publishing.tasks.collect_metrics_all"
COLLECT_METRICS = "publishing.tasks.collect_metrics"


@shared_task(name=PUBLISH_DUE, ignore_result=True)
def publish_due() -> str:
    """Celery beat (CELERY_BEAT_SCHEDULE "publishing-due"): planned series drafts that were approved go
    into their slots, then one task per post whose time has come."""
    queued = series.series_drafts_queue()
    if queued:
        logger.info("%s approved series drafts queued into their slots", queued)
    due = services.posts_due()
    for tenant_id, post_id, at in due:
        publish_post.delay(tenant_id, post_id, at)
    return f"{len(due)} due"


@shared_task(name=PUBLISH_POST, ignore_result=True, acks_late=True, soft_time_limit=120, time_limit=150)
def publish_post(tenant_id: int, post_id: int, due: str) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        outcome = services.post_publish(post_id=post_id, due=datetime.fromisoformat(due))
    logger.info("post %s: %s %s", post_id, outcome.status, outcome.detail)
    return outcome.status


@shared_task(name=COLLECT_METRICS_ALL, ignore_result=True)
def collect_metrics_all() -> str:
    """Celery beat (CELERY_BEAT_SCHEDULE "publishing-metrics"): a task per tenant with LinkedIn posts."""
    tenant_ids = metrics.tenants_with_recent_linkedin_posts()
    for tenant_id in tenant_ids:
        collect_metrics.delay(tenant_id)
    return f"{len(tenant_ids)} tenants"


@shared_task(name=COLLECT_METRICS, ignore_result=True, acks_late=True, soft_time_limit=600, time_limit=660)
def collect_metrics(tenant_id: int) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        report = metrics.metrics_pull(tenant=tenant)
    return report.summary()


@shared_task(
    bind=True,
    name=revocation.REVOKE_TASK,
    ignore_result=True,
    acks_late=True,
    max_retries=revocation.REVOKE_MAX_RETRIES,
)
def revoke_token(self, tenant_id: int, author_id: int, token_encrypted: str) -> str:
    """Ask LinkedIn again to revoke a token whose revocation failed; the tenant may be gone (erased)."""
    retries = self.request.retries
    with task_tenant_scope(tenant_id) as tenant:
        try:
            return revocation.linkedin_revoke_retry(
                tenant=tenant,
                author_id=author_id,
                token_encrypted=token_encrypted,
                attempt=retries + 2,  # the first try was the disconnect's or the erasure's own
                last_try=retries >= self.max_retries,
            )
        except linkedin.LinkedInError as exc:
            countdown = revocation.revoke_backoff(retries, retry_after=exc.retry_after)
            raise self.retry(exc=exc, countdown=countdown) from exc
