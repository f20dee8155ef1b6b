"""The command line of a Maestro Celery worker, shared by `make run`, the tests and the benchmarks.

Workers use the threads pool: a flow spends its life waiting on model calls, so one process holds
many flows at once (README: Workers). Mingle and gossip are off: workers share nothing but the broker.
"""

from __future__ import annotations

import sys


def worker_command(
    *,
    concurrency: int,
    queue: str | None = None,
    loglevel: str = "INFO",
    name: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    argv = [python, "-m", "celery", "-A", "config", "worker", "--pool", "threads"]
    argv += [
        "--concurrency",
        str(concurrency),
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        loglevel,
    ]
    if queue:
        argv += ["-Q", queue]
    if name:
        argv += ["-n", name]
    return argv
