"""Celery tasks: thin. Each takes ids, enters the tenant's scope, reloads rows and calls one service.

Workers run with the threads pool (see README "Workers"): a flow spends its life waiting for
model calls, so one process holds many flows at once.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import beat_init

from orchestrator import queueing, router_labels, sweeper
from orchestrator.flows.engine import execute_run, fail_run
from orchestrator.flows.revision import revise_on_request
from orchestrator.flows.series import series_run_now
from orchestrator.flows.steps import StepFailedError
from orchestrator.models import FlowRun, Series
from reviews.models import Draft
from tenants.task_scope import task_tenant_scope

logger = logging.getLogger("maestro.flows")
RETRY_DELAYS = [5, 30, 120]


@shared_task(
    name=queueing.RUN_FLOW,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(RETRY_DELAYS),
    soft_time_limit=900,
    time_limit=960,
)
def run_flow(self, tenant_id: int, run_id: int) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        # One worker at a time: a duplicate message (the sweeper's, a redelivery) finds the run held.
        token = sweeper.claim_run(run_id)
        if token is None:
            return "held by another worker or finished"
        run = FlowRun.objects.select_related("author", "definition").filter(pk=run_id).first()
        if run is None:
            return "run gone"
        try:
            with sweeper.Lease(run_id, token) as lease:
                execute_run(run, lease=lease)
        except sweeper.RunTakenOverError:
            return "taken over"
        except StepFailedError as exc:
            if exc.transient and self.request.retries < self.max_retries:
                countdown = max(exc.retry_after or 0, RETRY_DELAYS[self.request.retries])
                logger.info("run %s: %s; retrying in %ss", run_id, exc, countdown)
                sweeper.release_for_retry(run_id, token, countdown=countdown)
                raise self.retry(exc=exc, countdown=countdown) from exc
            fail_run(run, str(exc))
            return "failed"
    return "ok"


@shared_task(
    name=queueing.REVISE_DRAFT,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(RETRY_DELAYS),
)
def revise_draft(self, tenant_id: int, draft_id: int, round_number: int) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        draft = Draft.objects.select_related("run", "author").filter(pk=draft_id).first()
        if draft is None:
            return "draft gone"
        try:
            revise_on_request(draft, round_number)
        except StepFailedError as exc:
            if exc.transient and self.request.retries < self.max_retries:
                raise self.retry(exc=exc, countdown=RETRY_DELAYS[self.request.retries]) from exc
            raise
    return "ok"


@shared_task(name=queueing.RUN_SERIES, acks_late=True)
def run_series(tenant_id: int, series_id: int) -> str:
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        series = Series.objects.filter(pk=series_id, is_active=True).select_related("author").first()
        if series is None:
            return "series gone or paused"
        series_run_now(series)
    return "ok"


@shared_task(name=queueing.SWEEP, ignore_result=True)
def sweep() -> str:
    """Celery beat runs this every MAESTRO_RUNS["sweep_every_seconds"] (see orchestrator/sweeper.py)."""
    return sweeper.sweep().summary()


@beat_init.connect
def _install_sweeper_schedule(sender: object = None, **kwargs: object) -> None:
    """Beat reads its schedule from the database: make sure the sweeper is in it, at its interval."""
    sweeper.schedule_install()


# ---- the learned router (orchestrator/router_labels.py, docs/router.md) --------------------------


@shared_task(name=queueing.ROUTER_LEARN_ALL, ignore_result=True)
def router_learn_all() -> str:
    """Celery beat (CELERY_BEAT_SCHEDULE "router-learn"): one learning step per tenant, then the
    opt-in prior. Each tenant's step is a task of its own, so one slow tenant delays nobody."""
    tenant_ids = router_labels.learning_tenant_ids()
    for tenant_id in tenant_ids:
        queueing.enqueue_on_commit(queueing.ROUTER_LEARN, tenant_id)
    queueing.enqueue_on_commit(queueing.ROUTER_LEARN_POOLED)
    return f"{len(tenant_ids)} tenants"


@shared_task(
    name=queueing.ROUTER_LEARN, ignore_result=True, acks_late=True, soft_time_limit=600, time_limit=660
)
def router_learn(tenant_id: int) -> str:
    """Collect the tenant's review labels; retrain, shadow-evaluate and maybe promote its router."""
    with task_tenant_scope(tenant_id) as tenant:
        if tenant is None:
            return "tenant gone"
        outcome = router_labels.router_learn(tenant=tenant)
    logger.info("router learning for tenant %s: %s (%s)", tenant_id, outcome.status, outcome.reason)
    return outcome.status


@shared_task(
    name=queueing.ROUTER_LEARN_POOLED, ignore_result=True, acks_late=True, soft_time_limit=600, time_limit=660
)
def router_learn_pooled() -> str:
    """The opt-in prior, from the labels of tenants that chose to pool theirs."""
    outcome = router_labels.router_learn_pooled()
    logger.info("router learning for the opt-in prior: %s (%s)", outcome.status, outcome.reason)
    return outcome.status
