"""Queue depth for /metrics: messages waiting in the Celery broker, read at every scrape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings

from common.redis import redis_client
from telemetry import metrics

if TYPE_CHECKING:
    from prometheus_client.core import Metric

# kombu's Redis transport keeps a list per queue and priority step: the queue's name for the default
# priority, the name plus a separator and the step for the others.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depth_metrics() -> Iterable[Metric]:
    queues = sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *getattr(settings, "MAESTRO_METRICS_QUEUES", [])})
    client = redis_client(url=settings.CELERY_BROKER_URL, purpose="probe")
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for suffix in PRIORITY_SUFFIXES:
                pipe.llen(f"{queue}{suffix}")
        lengths = pipe.execute()
    finally:
        client.close()
    family = metrics.gauge("maestro_queue_depth", "Tasks waiting in the Celery broker, by queue.", ["queue"])
    steps = len(PRIORITY_SUFFIXES)
    for index, queue in enumerate(queues):
        family.add_metric([queue], sum(int(n) for n in lengths[index * steps : (index + 1) * steps]))
    yield family
