"""Start Maestro on embedded defaults: database, broker, local model, web server, Celery worker and beat.

    python -m config.launcher          (what `make run` calls)

Starts the embedded PostgreSQL (and Redis if none answers), applies migrations,
starts the local model server (llama.cpp, optional: Maestro runs without it),
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

from config import embedded, local_model
from config.workers import worker_command

PYTHON = sys.executable


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    essential: bool = True  # Maestro stops when an essential child dies; the local model is optional

    @property
    def started_process(self) -> subprocess.Popen:
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process


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
        Child(
            "worker",
            worker_command(
                concurrency=int(os.environ.get("MAESTRO_WORKER_CONCURRENCY", "50")), python=PYTHON
            ),
        ),
        Child("beat", [*celery, "beat", "--loglevel", "INFO"]),
    ]


def _start_local_model() -> local_model.LocalModelServer | None:
    """Start (or reuse) llama-server and export its URL to the children; on failure, warn and go on."""
    if os.environ.get("MAESTRO_LOCAL_MODEL", "on").lower() in {"off", "false", "0", "no"}:
        print("Local model: off (MAESTRO_LOCAL_MODEL=off).")
        return None
    print("Local model: starting llama-server...")
    try:
        port = int(os.environ.get("MAESTRO_LOCAL_MODEL_PORT", local_model.DEFAULT_PORT))
        server = local_model.ensure_local_model_server(port=port)
    except Exception as exc:  # an optional part: whatever goes wrong, the web app still starts
        print(
            f"WARNING: the local model is not running: {exc}\n"
            "Maestro starts without it: configure a provider in /admin/, or set MAESTRO_LOCAL_MODEL=off "
            "to skip it (see docs/local-model.md).",
            file=sys.stderr,
        )
        return None
    os.environ["MAESTRO_LOCAL_MODEL_URL"] = server.base_url
    os.environ["MAESTRO_LOCAL_MODEL_NAME"] = server.model_name
    return server


def _local_model_banner(server: local_model.LocalModelServer | None) -> str:
    if server is None:
        return "Local model: not running (see the warning above)."
    if server.process is None:
        how = "already running before Maestro, left running at exit"
    else:
        how = f"log in {server.log_path}"
    return f"Local model: {server.model_name} at {server.base_url} (OpenAI-compatible; {how})."


def _wait_for_a_death(children: list[Child]) -> list[str]:
    """Block until an essential child exits and return the names of those that did.

    An optional child that exits is reported once and Maestro keeps running without it.
    """
    reported: set[str] = set()
    while True:
        exited = [child for child in children if child.started_process.poll() is not None]
        if any(child.essential for child in exited):
            return [child.name for child in exited if child.essential]
        for child in exited:
            if child.name not in reported:
                reported.add(child.name)
                print(
                    f"WARNING: {child.name} stopped (status {child.started_process.returncode}); "
                    "Maestro keeps running without it.",
                    file=sys.stderr,
                )
        time.sleep(0.5)


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
        model_server = _start_local_model()  # before the others: they inherit its URL
        if model_server is not None and model_server.process is not None:
            children.insert(
                0, Child("local model", list(model_server.command), model_server.process, essential=False)
            )
        for child in children:
            if child.process is None:
                child.process = subprocess.Popen(child.argv)  # noqa: S603 - fixed argument lists
        _manage("seed_demo")  # idempotent; prints the demo logins last, where they are seen
        print(f"\nMaestro is running at http://127.0.0.1:{port}/ (Django admin: /admin/). Ctrl-C stops it.")
        print(f"{_local_model_banner(model_server)}\n")
        dead = _wait_for_a_death(children)
        print(f"{', '.join(dead)} stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(children)


if __name__ == "__main__":
    raise SystemExit(main())
