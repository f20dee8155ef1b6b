"""The directory Prometheus' multi-process mode keeps its counters in (docs/telemetry.md).

Maestro runs several processes (uvicorn workers, Celery's pool, beat); each writes its samples to
memory-mapped files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up. The variable must be set
before any process imports prometheus_client, so this module never imports it: the launcher calls
`fresh_directory` before it starts the children.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def fresh_directory(path: Path) -> Path:
    """An empty directory for this run: samples of an earlier run's processes must not be summed in."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def configure(path: Path) -> None:
    """Set the variable for this process and its children, unless the operator chose a directory."""
    if not os.environ.get(ENV):
        os.environ[ENV] = str(fresh_directory(path))
