"""pytest fixtures for the gateway's tests (registered by the root conftest.py)."""

from __future__ import annotations

import pytest

from config.workers import worker_command
from testing.fake_provider import FakeProvider


@pytest.fixture(scope="session")
def fake_provider_server():
    """One fake provider server for the whole session (per xdist worker)."""
    with FakeProvider.start() as fake:
        yield fake


@pytest.fixture
def fake_provider(fake_provider_server):
    """The session's fake provider with no behaviours and no recorded requests."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()


# ---- real Celery workers --------------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent


def _test_database_url() -> str:
    """DATABASE_URL with the database swapped for the one pytest-django created for this run."""
    from urllib.parse import urlsplit, urlunsplit

    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


class WorkerProcess:
    """A real `celery worker` (threads pool) in its own process, on this test run's database and queue."""

    def __init__(self, *, concurrency: int = 8, visibility_timeout: int = 3600) -> None:
        from django.conf import settings

        self.queue = settings.CELERY_TASK_DEFAULT_QUEUE
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _test_database_url(),
            "MAESTRO_EMBEDDINGS_BACKEND": "hashing",
            "MAESTRO_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "PYTHONUNBUFFERED": "1",
        }
        self.argv = worker_command(
            concurrency=concurrency,
            queue=self.queue,
            name=f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        )
        self.process: subprocess.Popen | None = None
        self.log = ROOT / ".data" / "test-workers" / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log.open("wb")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=handle, stderr=handle)  # noqa: S603
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        if self.process is None:
            raise RuntimeError("start() the worker first")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log}")
            if b"ready." in self.log.read_bytes()[-20000:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no chance to requeue or ack anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker_process():
    """Start workers with `celery_worker_process()`; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(**options) -> WorkerProcess:
        worker = WorkerProcess(**options).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
