"""Enqueue flow work by task name, once the caller's transaction commits.

The tasks (orchestrator/tasks.py) call the flow services, and the services start tasks. Naming the
task here instead of importing it keeps that a line rather than a circle. The worker resolves the
name to the registered task, with its retries and time limits; the message goes to the default queue,
as it did when the services called `.delay()`.

The broker may be down. A run is saved in PostgreSQL before its message is sent, so the row is the
record that work is owed: sending gives up within about a second (`CELERY_TASK_PUBLISH_RETRY_POLICY`),
the failure is reported to the caller (`Sending.failed`) instead of hanging the request, and the
sweeper (orchestrator/sweeper.py) sends the run again once the broker answers. Results are never
stored: nobody waits on them, and subscribing to a result in Redis is what made a request hang for
19 s when Redis was down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import transaction
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

RUN_FLOW = "orchestrator.tasks.run_flow"
REVISE_DRAFT = "orchestrator.tasks.revise_draft"
RUN_SERIES = "orchestrator.tasks.run_series"
SWEEP = "orchestrator.tasks.sweep"
ROUTER_LEARN_ALL = "orchestrator.tasks.router_learn_all"
ROUTER_LEARN = "orchestrator.tasks.router_learn"
ROUTER_LEARN_POOLED = "orchestrator.tasks.router_learn_pooled"

logger = logging.getLogger("maestro.flows")


class QueueUnavailableError(Exception):
    """The broker did not take the message; the work is saved and the sweeper will send it."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id  # the saved run that waits for the broker, when there is one


@dataclass
class Sending:
    """One message to send on commit; after the commit, says whether the broker took it."""

    task_name: str
    args: tuple[int | str, ...]
    sent: bool | None = None  # None: the transaction has not committed yet
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.sent is False


def send_now(task_name: str, *args: int | str) -> None:
    """Send the task at once; QueueUnavailableError when the broker does not take it quickly."""
    try:
        current_app.send_task(
            task_name,
            args=args,
            ignore_result=True,
            retry=True,
            retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY,
        )
    except (KombuError, RedisError, OSError) as exc:
        raise QueueUnavailableError(f"the task queue is not answering ({type(exc).__name__}: {exc})") from exc


def enqueue_on_commit(task_name: str, *args: int | str) -> Sending:
    """Send the task when the current transaction commits (at once outside a transaction).

    Never raises: a broker that is down is logged and recorded on the returned `Sending`, and the
    caller decides what to tell its own caller. Other on-commit work still runs.
    """
    sending = Sending(task_name, args)

    def send() -> None:
        try:
            send_now(task_name, *args)
        except QueueUnavailableError as exc:
            sending.sent, sending.error = False, str(exc)
            logger.warning("%s%s not sent: %s; the sweeper will send it", task_name, args, exc)
        else:
            sending.sent = True

    transaction.on_commit(send)
    return sending
