"""Runs that never strand: a worker claims a run and beats it; a periodic sweeper resumes what stopped.

The run row in PostgreSQL is the record that work is owed; a broker message only says "look at it".
So a lost message, a broker that was down when the run was saved, or a worker killed mid-run can
each leave a run behind, and the sweeper (a Celery beat task, every `sweep_every_seconds`) picks it up:

- `queued` for longer than `requeue_after_seconds` since it was last sent: sent again;
- `running` while its worker has not beaten for `stale_after_seconds`: taken over (back to `queued`
  and sent), so a run whose worker was SIGKILLed resumes within about a minute instead of after the
  broker's visibility timeout; after `max_takeovers` takeovers it fails with the reason;
- model calls still marked in flight well after their own deadline: their process died mid-call, so
  each is written down as an interrupted call (gateway.tracing.reconcile_lost_calls): paid, never lost.

Duplicates are harmless: a worker starts a run only by claiming it in one UPDATE (`claim_run`), which
a second message for the same run finds already taken.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from gateway.tracing import reconcile_lost_calls
from orchestrator import queueing
from orchestrator.flows import events
from orchestrator.models import FlowRun, RunStatus

logger = logging.getLogger("maestro.flows")

SCHEDULE_NAME = "maestro: sweep runs and interrupted calls"
BATCH = 200


def run_settings() -> dict:
    return dict(settings.MAESTRO_RUNS)


def _runs():
    # The sweeper and the claim act on runs of every tenant by id; tasks enter the tenant's scope.
    return FlowRun.objects.unscoped()


def _stale(now: datetime) -> Q:
    """A running run whose worker stopped beating (or that never beat: a run from before heartbeats)."""
    cutoff = now - timedelta(seconds=run_settings()["stale_after_seconds"])
    never_beat = Q(heartbeat_at__isnull=True) & (Q(started_at__lt=cutoff) | Q(started_at__isnull=True))
    return Q(status=RunStatus.RUNNING) & (Q(heartbeat_at__lt=cutoff) | never_beat)


# ---- the worker's side -----------------------------------------------------------------------------


def claim_run(run_id: int) -> str | None:
    """Take the run for this worker: a queued one, or a running one whose worker stopped beating.
    Returns the lease token, or None when another worker holds the run (or it has finished)."""
    now = timezone.now()
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claimed = (
        _runs()
        .filter(pk=run_id)
        .filter(Q(status=RunStatus.QUEUED) | _stale(now))
        .update(
            status=RunStatus.RUNNING,
            claimed_by=token,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    return token if claimed else None


def release_for_retry(run_id: int, token: str, *, countdown: float) -> None:
    """The task retries later (its own countdown): the run waits `queued`, due again then."""
    due = timezone.now() + timedelta(seconds=countdown)
    _runs().filter(pk=run_id, claimed_by=token, status=RunStatus.RUNNING).update(
        status=RunStatus.QUEUED, claimed_by="", enqueued_at=due
    )


class RunTakenOverError(Exception):
    """This worker's lease on the run is gone (the sweeper gave the run to another worker)."""


class Lease:
    """A worker's hold on a run while it executes: a thread beats `heartbeat_at` every
    `heartbeat_seconds`. If a beat finds the run no longer held by this token (taken over after a
    stall), `lost` is set and the engine stops at the next step rather than run it twice."""

    def __init__(self, run_id: int, token: str, *, interval: float | None = None) -> None:
        self.run_id, self.token = run_id, token
        self.interval = interval if interval is not None else run_settings()["heartbeat_seconds"]
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name=f"heartbeat-{run_id}", daemon=True
        )

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        if self.lost:
            raise RunTakenOverError(f"run {self.run_id} was taken over by another worker")

    def beat(self) -> bool:
        held = _runs().filter(pk=self.run_id, claimed_by=self.token, status=RunStatus.RUNNING)
        return held.update(heartbeat_at=timezone.now()) == 1

    def _beat_until_stopped(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.beat():
                        self.lost = True
                        return
                except Exception:  # a database blip: beat again next time, the run goes on
                    logger.warning("heartbeat of run %s failed", self.run_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection


# ---- the sweeper -----------------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    taken_over: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost_calls: int = 0
    broker_down: bool = False

    def summary(self) -> str:
        return (
            f"requeued {len(self.requeued)}, taken over {len(self.taken_over)}, failed {len(self.failed)}, "
            f"lost calls recorded {self.lost_calls}" + (", broker down" if self.broker_down else "")
        )


def sweep(*, now: datetime | None = None) -> SweepReport:
    """One pass of the sweeper (the beat task calls it)."""
    now = now or timezone.now()
    report = SweepReport()
    try:
        report.lost_calls = reconcile_lost_calls()
    except Exception:  # Redis down: the runs below need only PostgreSQL and the broker
        logger.warning("could not reconcile interrupted calls", exc_info=True)
    try:
        _take_over_stalled(now, report)
        _send_forgotten(now, report)
    except queueing.QueueUnavailableError as exc:
        report.broker_down = True
        logger.warning("sweeper: %s; runs stay queued until it answers", exc)
    if report.requeued or report.taken_over or report.failed or report.lost_calls:
        logger.info("sweeper: %s", report.summary())
    return report


def _send_forgotten(now: datetime, report: SweepReport) -> None:
    """Queued runs whose message was not sent (broker down) or was lost: send them again."""
    cutoff = now - timedelta(seconds=run_settings()["requeue_after_seconds"])
    waiting = (
        _runs()
        .filter(status=RunStatus.QUEUED)
        .filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff))
        .order_by("created_at")
        .values_list("pk", "tenant_id")[:BATCH]
    )
    for run_id, tenant_id in waiting:
        queueing.send_now(queueing.RUN_FLOW, tenant_id, run_id)
        _runs().filter(pk=run_id, status=RunStatus.QUEUED).update(enqueued_at=now)
        report.requeued.append(run_id)


def _take_over_stalled(now: datetime, report: SweepReport) -> None:
    limit = run_settings()["max_takeovers"]
    stalled = _runs().filter(_stale(now)).values_list("pk", "tenant_id", "claimed_by", "takeovers")[:BATCH]
    for run_id, tenant_id, holder, takeovers in stalled:
        still_stalled = _runs().filter(_stale(now), pk=run_id, claimed_by=holder)
        if takeovers >= limit:
            reason = (
                f"The run stopped {takeovers + 1} times without finishing (its worker died or hung); "
                "it was not resumed again."
            )
            if still_stalled.update(status=RunStatus.FAILED, error=reason, finished_at=now, claimed_by=""):
                report.failed.append(run_id)
                _publish(run_id, status=RunStatus.FAILED, error=reason)
            continue
        # Back to queued first: if the broker is down, the run waits like any unsent one.
        if not still_stalled.update(
            status=RunStatus.QUEUED, claimed_by="", enqueued_at=None, takeovers=F("takeovers") + 1
        ):
            continue  # it beat again, or another sweeper took it
        report.taken_over.append(run_id)
        _publish(run_id, status=RunStatus.QUEUED, reason="its worker stopped; resuming")
        queueing.send_now(queueing.RUN_FLOW, tenant_id, run_id)
        _runs().filter(pk=run_id, status=RunStatus.QUEUED).update(enqueued_at=now)


def _publish(run_id: int, **data: str) -> None:
    try:
        events.publish(run_id, "run", **data)
    except Exception:  # live progress is best effort; the row is the truth
        logger.warning("could not publish the state of run %s", run_id, exc_info=True)


def schedule_install() -> PeriodicTask:
    """Register the sweeper with Celery beat's database scheduler (idempotent; beat calls it at start)."""
    every = int(run_settings()["sweep_every_seconds"])
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
    task, _ = PeriodicTask.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "task": queueing.SWEEP,
            "interval": interval,
            "crontab": None,
            "enabled": True,
            "expire_seconds": every * 2,  # a sweep that waited longer than that is superseded
            "description": "Resumes stranded flow runs and records interrupted model calls "
            "(orchestrator/sweeper.py).",
        },
    )
    return task
