"""Platform wiring: health endpoint, Celery on the real broker, demo data, production checklist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command

from config.celery import app as celery_app
from tenants.context import tenant_scope
from tenants.models import Membership, Tenant, User

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_reports_database_with_pgvector_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"]
    assert body["database"]["pgvector"].startswith("0.8")
    assert body["broker"]["ok"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo", "--quiet-logins")
    call_command("seed_demo", "--quiet-logins")
    assert Tenant.objects.filter(slug__in=["acme", "globex"]).count() == 2
    assert User.objects.filter(email__endswith="@maestro.local").count() == 4
    for tenant in Tenant.objects.all():
        with tenant_scope(tenant):
            assert sorted(Membership.objects.values_list("role", flat=True)) == sorted(
                ["admin", "editor", "writer", "viewer"]
            )


def test_celery_runs_tasks_on_a_real_worker_over_redis():
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.task_acks_late is True
    with start_worker(celery_app, perform_ping_check=True, pool="solo", loglevel="WARNING"):
        result = celery_app.send_task("celery.ping")
        assert result.get(timeout=10) == "pong"


def test_production_settings_pass_the_deployment_checklist():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 20 + "production-secret-for-the-checklist-test-0123456789",
        "ALLOWED_HOSTS": "maestro.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_the_development_secret_key():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_the_launcher_stops_the_embedded_postgresql_it_started_and_not_one_it_found(monkeypatch, tmp_path):
    """Importing `config` (its Celery app) may start the embedded PostgreSQL before the launcher runs:
    what this process started is recorded where it starts, and only that is stopped at exit."""
    from config import embedded, launcher

    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path)
    monkeypatch.setattr(embedded, "_started", {})
    embedded.ensure_postgres(name="pg", database="maestro")
    pid_file = tmp_path / "pg" / "postmaster.pid"
    assert embedded.started_here() == {"postgres": tmp_path / "pg"}
    try:
        monkeypatch.setattr(embedded, "_started", {})
        embedded.ensure_postgres(name="pg", database="maestro")  # running already: not ours to stop
        assert embedded.started_here() == {}
        launcher._stop_embedded(embedded.started_here())
        assert pid_file.exists()
    finally:
        launcher._stop_embedded({"postgres": tmp_path / "pg"})
    assert not pid_file.exists()
