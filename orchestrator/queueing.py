"""Enqueue flow work by task name, once the caller's transaction commits.

The tasks (orchestrator/tasks.py) call the flow services, and the services start tasks. Naming the
task here instead of importing it keeps that a line rather than a circle. The worker resolves the
name to the registered task, with its retries and time limits; the message goes to the default queue,
as it did when the services called `.delay()`.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

RUN_FLOW = "orchestrator.tasks.run_flow"
REVISE_DRAFT = "orchestrator.tasks.revise_draft"
RUN_SERIES = "orchestrator.tasks.run_series"


def enqueue_on_commit(task_name: str, *args: int | str) -> None:
    """Send the task when the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: current_app.send_task(task_name, args=args))
