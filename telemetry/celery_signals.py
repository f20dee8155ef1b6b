"""Celery's signals carry the trace from whoever enqueues a task to the worker that runs it."""

from __future__ import annotations

from celery import Task, signals

from telemetry import tracing


@signals.before_task_publish.connect(weak=False)
def _inject_trace(headers: dict | None = None, **_kwargs: object) -> None:
    if headers is not None:
        tracing.inject_into(headers)


@signals.task_prerun.connect(weak=False)
def _start_task_span(task_id: str, task: Task, **_kwargs: object) -> None:
    tracing.task_started(task_id, task.name, task.request)


@signals.task_postrun.connect(weak=False)
def _end_task_span(task_id: str, state: str | None = None, **_kwargs: object) -> None:
    tracing.task_finished(task_id, state or "")
