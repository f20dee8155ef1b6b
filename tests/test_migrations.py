"""Migrating a database made before the restructure keeps every row (docs/CONVENTIONS.md, Migrations).

The restructure (6aa9b82) moved models between apps with state-only migrations and kept their tables.
This test checks out the commit before it (c944e2b) in a git worktree, migrates a fresh database on the
suite's PostgreSQL server with that code, fills every table of every Maestro app (tests/migration_data.py
walks the old models generically), snapshots every table, migrates the same database with this code,
and compares: every table, column and row is still there with the same values, every old table is read
by a model of this code, and the moved models' content types, permissions and admin history follow them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "migration_data.py"
# "Run pages read the run's draft through a selector, not in the view": the last commit before it.
OLD_COMMIT = "c944e2b86080bf6ab78db6fc9498ba83f2669bae"
OLD_APPS = ["api", "console", "memories", "orchestrator", "prompts", "tenants"]

# Every model the restructure moved: old label -> new label (the table stays the old app's).
MOVED = {
    "orchestrator.providerendpoint": "gateway.providerendpoint",
    "orchestrator.llmmodel": "gateway.llmmodel",
    "orchestrator.tenantpolicy": "gateway.tenantpolicy",
    "orchestrator.tenantpolicy_allowed_models": "gateway.tenantpolicy_allowed_models",
    "orchestrator.budget": "gateway.budget",
    "orchestrator.budgetalert": "gateway.budgetalert",
    "orchestrator.trace": "gateway.trace",
    "orchestrator.semanticcacheentry": "gateway.semanticcacheentry",
    "orchestrator.draft": "reviews.draft",
    "orchestrator.drafttransition": "reviews.drafttransition",
    "orchestrator.learningproposal": "reviews.learningproposal",
    "tenants.author": "authors.author",
    "tenants.styleprofile": "authors.styleprofile",
    "console.routepreference": "gateway.routepreference",
    "console.webhookendpoint": "webhooks.webhookendpoint",
    "console.webhookdelivery": "webhooks.webhookdelivery",
}
# A migrate adds rows to these (applied migrations; content types and permissions of new models): their
# old rows must all survive, unchanged, and new ones may appear. Content types are checked on their own.
GROWING_TABLES = {"django_migrations", "auth_permission"}
PHASE_TIMEOUT = 180  # seconds; each phase takes under 10 on a laptop

# The helper runs by path with the checkout as cwd, so '' (the checkout) is first on sys.path.
RUNNER = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


def git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607 - git from PATH, as everywhere in development and CI
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def resolve_old_commit() -> str:
    found = git("rev-parse", "--verify", "--quiet", f"{OLD_COMMIT}^{{commit}}")
    if found.returncode != 0:
        pytest.fail(
            f"Commit {OLD_COMMIT} (the last before the restructure) is not in this clone of {ROOT}, so the "
            "migration test cannot build its old database. A shallow clone? Run `git fetch --unshallow` "
            "(in CI: actions/checkout with fetch-depth: 0).\n" + found.stderr,
            pytrace=False,
        )
    return found.stdout.strip()


@pytest.fixture
def old_checkout():
    """A worktree of the old commit in a temporary directory, removed afterwards."""
    commit = resolve_old_commit()
    tmp = Path(tempfile.mkdtemp(prefix="maestro-migcheck-"))
    worktree = tmp / "old"
    added = git("worktree", "add", "--detach", str(worktree), commit)
    try:
        if added.returncode != 0:
            pytest.fail(f"git worktree add {commit} failed:\n{added.stderr}", pytrace=False)
        yield worktree
    finally:
        if added.returncode == 0 and git("worktree", "remove", "--force", str(worktree)).returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            git("worktree", "prune")  # forget the worktree whose directory is gone
        shutil.rmtree(tmp, ignore_errors=True)


def server_url(database: str) -> str:
    """The suite's PostgreSQL server (config/settings/test.py put its URL in DATABASE_URL), another
    database."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        pytest.fail("DATABASE_URL is unset: config.settings.test sets it before the tests run", pytrace=False)
    return urlunsplit(urlsplit(base)._replace(path=f"/{database}"))


@pytest.fixture
def scratch_database():
    """A fresh database of its own on the suite's server (never the suite's test database); dropped
    afterwards. Yields its URL."""
    name = f"migcheck_{uuid.uuid4().hex[:16]}"
    admin_url = server_url("postgres")  # the maintenance database, else the one DATABASE_URL names
    try:
        psycopg.connect(admin_url).close()
    except psycopg.OperationalError:
        admin_url = os.environ["DATABASE_URL"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url(name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_phase(
    checkout: Path, phase: str, database_url: str, workdir: Path, given: dict | None = None
) -> dict:
    """Run tests/migration_data.py with `checkout`'s code against the database; return its report."""
    input_path, output_path = workdir / f"{phase}-in.json", workdir / f"{phase}-out.json"
    input_path.write_text(json.dumps(given or {}))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONPATH": os.pathsep.join([str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])]),
        # The old code's embedded-services helper must never write into a checkout's .data.
        "MAESTRO_DATA_DIR": str(workdir / "data"),
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", RUNNER, str(HELPER), phase, str(input_path), str(output_path)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=PHASE_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"The {phase!r} phase (code of {checkout}) failed:\n"
            f"{result.stdout[-3000:]}{result.stderr[-6000:]}",
            pytrace=False,
        )
    report = json.loads(output_path.read_text())
    assert Path(report["root"]) == checkout.resolve(), report["root"]
    assert report["foreign_modules"] == [], (
        f"The {phase!r} phase imported modules from outside {checkout}: {report['foreign_modules']}"
    )
    return report


# --- Comparisons: each returns a list of problems, empty when all is well ------------------------


def empty_tables(old: dict) -> list[str]:
    tables = old["tables"]
    return sorted(
        f"{table} ({label})" for label, table in old["models"].items() if tables[table]["count"] == 0
    )


def row_differences(table: str, before: dict, after: dict, *, growing: bool) -> list[str]:
    """The table's row count and checksum are equal (a growing table: its old rows are all there,
    unchanged), with the keys of the rows lost, changed or added to say which."""
    problems = []
    totals_before, totals_after = (before["count"], before["checksum"]), (after["count"], after["checksum"])
    if not growing and totals_before != totals_after:
        problems.append(
            f"{table}: {totals_before[0]} rows (md5 {totals_before[1]}) became "
            f"{totals_after[0]} rows (md5 {totals_after[1]})"
        )
    old_rows, new_rows = before["rows"], after["rows"]
    lost = [key for key in old_rows if key not in new_rows]
    changed = [key for key in old_rows if key in new_rows and new_rows[key] != old_rows[key]]
    added = [] if growing else [key for key in new_rows if key not in old_rows]
    for what, keys in [("lost", lost), ("changed", changed), ("added", added)]:
        if keys:
            problems.append(f"{table}: {len(keys)} row(s) {what}, key(s) {', '.join(keys[:5])}")
    return problems


def table_problems(old: dict, new: dict) -> list[str]:
    problems = []
    for table, before in sorted(old["tables"].items()):
        after = new["tables"][table]
        if after.get("missing"):
            problems.append(f"{table}: the table is gone ({before['count']} rows)")
            continue
        if after["lost_columns"]:
            problems.append(f"{table}: column(s) gone: {', '.join(after['lost_columns'])}")
        if table == "django_content_type":
            continue  # its app labels change on purpose: content_type_problems
        problems += row_differences(table, before, after, growing=table in GROWING_TABLES)
    return problems


def orm_problems(old: dict, new: dict) -> list[str]:
    """Every old model's table is read by a model of the new code, unscoped, with every row."""
    problems = []
    by_table = {read["table"]: (label, read) for label, read in new["orm"].items()}
    for old_label, table in sorted(old["models"].items()):
        expected = old["tables"][table]["count"]
        if table not in by_table:
            problems.append(f"{old_label}: no model of the new code reads its table {table}")
            continue
        new_label, read = by_table[table]
        if old_label in MOVED and new_label != MOVED[old_label]:
            problems.append(
                f"{old_label}: expected as {MOVED[old_label]}, table {table} is read by {new_label}"
            )
        if "error" in read:
            problems.append(f"{new_label}: reading {table} failed: {read['error']}")
        elif (read["count"], read["loaded"]) != (expected, expected):
            problems.append(
                f"{new_label}: counted {read['count']}, loaded {read['loaded']}, expected {expected}"
            )
    return problems


def content_type_problems(old: dict, new: dict) -> list[str]:
    """Content types keep their ids (so permissions, admin history and generic relations keep pointing
    at them); a moved model's content type now carries the new app label, and no duplicate appeared."""
    problems = []
    new_by_id = {pk: (app_label, model) for pk, app_label, model in new["content_types"]}
    new_by_key = {(app_label, model): pk for pk, app_label, model in new["content_types"]}
    for pk, app_label, model in old["content_types"]:
        expected = tuple(MOVED.get(f"{app_label}.{model}", f"{app_label}.{model}").split("."))
        if new_by_id.get(pk) != expected:
            problems.append(
                f"content type {pk} ({app_label}.{model}): now {new_by_id.get(pk)}, expected {expected}"
            )
        elif new_by_key.get(expected) != pk:
            problems.append(f"content type {expected}: id {new_by_key.get(expected)}, expected {pk}")
    return problems


def moved_trace_problems(old: dict, new: dict) -> list[str]:
    """orchestrator.Trace -> gateway.Trace: its permissions (a custom one too), a user holding one
    directly and one through a group, and an admin log entry of one trace all follow it."""
    before, after = old["watched"]["before"], new["watched"]
    expected_before = {
        "app_label": "orchestrator",
        "model_class": "orchestrator.trace",
        "user_has_custom": True,
        "user_has_view_by_group": True,
        "log_entry_object": ["orchestrator.trace", old["watched"]["trace_pk"]],
    }
    expected_after = {
        "app_label": "gateway",
        "model_class": "gateway.trace",
        "codenames": before["codenames"],
        "user_has_custom": True,
        "user_has_view_by_group": True,
        "log_entry_object": ["gateway.trace", old["watched"]["trace_pk"]],
    }
    problems = [
        f"before the migration, {key} was {before.get(key)!r} (the set-up is wrong), expected {value!r}"
        for key, value in expected_before.items()
        if before.get(key) != value
    ]
    if "export_trace" not in before["codenames"]:
        problems.append(f"the custom permission is missing before the migration: {before['codenames']}")
    problems += [
        f"after the migration, trace's {key} is {after.get(key)!r}, expected {value!r}"
        for key, value in expected_after.items()
        if after.get(key) != value
    ]
    return problems


def migration_problems(old: dict, new: dict) -> list[str]:
    return (
        table_problems(old, new)
        + orm_problems(old, new)
        + content_type_problems(old, new)
        + moved_trace_problems(old, new)
    )


@pytest.mark.slow
def test_migrating_a_database_of_the_commit_before_the_restructure_keeps_every_row(
    old_checkout, scratch_database, tmp_path
):
    old = run_phase(old_checkout, "old", scratch_database, tmp_path)

    assert old["apps"] == OLD_APPS, f"the old commit's Maestro apps are {old['apps']}"
    assert set(MOVED) <= set(old["models"]), sorted(set(MOVED) - set(old["models"]))
    empty = empty_tables(old)
    assert not empty, "The filler left these tables of the old code empty: " + ", ".join(empty)

    new = run_phase(ROOT, "new", scratch_database, tmp_path, given=old)

    problems = migration_problems(old, new)
    assert not problems, "Migrating the old database lost or changed data:\n" + "\n".join(problems)
