"""Several processes, one /metrics: counters written by separate processes are added up at a scrape
(prometheus-client's multi-process mode, PROMETHEUS_MULTIPROC_DIR; docs/telemetry.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from telemetry import multiproc

ROOT = Path(__file__).resolve().parents[2]
COUNT = "from telemetry import metrics; metrics.gateway_tokens.labels(model='m', direction='input').inc({n})"
SCRAPE = "import sys; from telemetry import metrics; sys.stdout.write(metrics.exposition().decode())"


def _python(code: str, directory: Path) -> str:
    env = {**os.environ, multiproc.ENV: str(directory), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_counts_of_separate_processes_add_up_in_one_scrape(tmp_path):
    directory = multiproc.fresh_directory(tmp_path / "metrics")
    _python(COUNT.format(n=5), directory)  # a uvicorn worker, say
    _python(COUNT.format(n=7), directory)  # a Celery worker
    scraped = _python(SCRAPE, directory)
    assert 'maestro_gateway_tokens_total{direction="input",model="m"} 12.0' in scraped


def test_a_fresh_directory_forgets_the_last_run(tmp_path):
    directory = multiproc.fresh_directory(tmp_path / "metrics")
    _python(COUNT.format(n=5), directory)
    directory = multiproc.fresh_directory(tmp_path / "metrics")
    assert "maestro_gateway_tokens_total{" not in _python(SCRAPE, directory)


def test_the_operators_directory_is_kept(tmp_path, monkeypatch):
    chosen = tmp_path / "chosen"
    monkeypatch.setenv(multiproc.ENV, str(chosen))
    multiproc.configure(tmp_path / "default")
    assert os.environ[multiproc.ENV] == str(chosen)
    monkeypatch.delenv(multiproc.ENV)
    multiproc.configure(tmp_path / "default")
    assert os.environ[multiproc.ENV] == str(tmp_path / "default")
    assert (tmp_path / "default").is_dir()
