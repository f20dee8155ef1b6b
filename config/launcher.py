"""Start Maestro on embedded defaults: database, broker, web server, Celery worker and beat.

    python -m config.launcher          (what `make run` calls)

Starts the embedded PostgreSQL (and Redis if none answers), applies migrations,
creates the demo data, then runs the web server, one Celery worker and Celery
beat as child processes until Ctrl-C, stopping all of them if one dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from config import embedded

PYTHON = sys.executable


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None


def _free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise SystemExit(f"No free port between {preferred} and {preferred + 49}")


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], check=True)  # noqa: S603 - our own interpreter and script


def _children(port: int) -> list[Child]:
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    return [
        Child("web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]),
        Child("worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"]),
        Child("beat", [*celery, "beat", "--loglevel", "INFO"]),
    ]


def _stop(children: list[Child]) -> None:
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    services = embedded.configure_environment()
    print(f"Database: {services['DATABASE_URL']}")
    print(f"Broker:   {services.get('REDIS_URL') or os.environ.get('CELERY_BROKER_URL')}")
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput", "--verbosity", "0")
    port = _free_port(int(os.environ.get("MAESTRO_PORT", "8000")))
    children = _children(port)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for child in children:
            child.process = subprocess.Popen(child.argv)  # noqa: S603 - fixed argument lists
        _manage("seed_demo")  # idempotent; prints the demo logins last, where they are seen
        print(f"\nMaestro is running at http://127.0.0.1:{port}/ (Django admin: /admin/). Ctrl-C stops it.\n")
        while all(child.process.poll() is None for child in children):
            time.sleep(0.5)
        dead = [child.name for child in children if child.process.poll() is not None]
        print(f"{', '.join(dead)} stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(children)


if __name__ == "__main__":
    raise SystemExit(main())
