"""Django set-up for benchmarks: a database of their own on the embedded server, never dev or test data."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database: str = "maestro_bench") -> None:
    from config import embedded

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    if not os.environ.get("BENCH_DATABASE_URL"):
        # A fresh database per run; worker processes inherit the URL and reuse it.
        admin_url = embedded.ensure_postgres(name="pg", database="postgres")
        _recreate(admin_url, database)
        os.environ["BENCH_DATABASE_URL"] = embedded.ensure_postgres(name="pg", database=database)
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ.setdefault("REDIS_URL", embedded.ensure_redis())
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The fake provider listens on loopback, which the outbound-URL guard refuses by default.
    os.environ.setdefault("MAESTRO_ALLOW_PRIVATE_NETWORKS", "true")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _recreate(admin_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):8.3f}  p99 {percentile(values, 0.99):8.3f}  "
        f"mean {statistics.fmean(values):8.3f}  n={len(values)}"
    )
