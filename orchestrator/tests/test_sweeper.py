"""Runs that never strand, on real processes: a worker SIGKILLed mid-call, Redis killed under a running
Maestro, lost and duplicate messages. Real Celery workers, real Redis (our own redis-server for the kill),
PostgreSQL and the fake provider over HTTP. Thresholds are seconds here (production: about a minute)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from celery import current_app
from celery.signals import beat_init
from django.conf import settings as django_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from api.tests.factories import make_created_key
from authors.models import Author
from authors.services import style_profile_save
from gateway.models import Trace
from gateway.tests.gateway_support import register_fake_models
from orchestrator import queueing, sweeper
from orchestrator.flows import events
from orchestrator.flows.services import flow_definitions_install, flow_start
from orchestrator.models import FlowRun, RunStatus, StepRun, StepStatus
from orchestrator.tests.factories import make_run
from orchestrator.tests.test_flows import PASS, wait_for
from prompts.services import prompt_defaults_install
from tenants.context import cross_tenant_access, tenant_scope
from testing.fake_server import Behaviour

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST_RUNS = {
    "heartbeat_seconds": 0.3,
    "stale_after_seconds": 1.5,
    "requeue_after_seconds": 1.0,
    "sweep_every_seconds": 1,
    "max_takeovers": 3,
}


@pytest.fixture
def fast_runs(settings, monkeypatch):
    """Short thresholds for this process and for the workers it starts (they read the environment)."""
    settings.MAESTRO_RUNS = FAST_RUNS
    settings.MAESTRO_LOST_CALL_GRACE_SECONDS = 0.5
    settings.MAESTRO_GATEWAY = {**settings.MAESTRO_GATEWAY, "timeouts": {"call_deadline": 6}}
    for name, value in {
        "MAESTRO_RUN_HEARTBEAT_SECONDS": "0.3",
        "MAESTRO_RUN_STALE_SECONDS": "1.5",
        "MAESTRO_RUN_REQUEUE_SECONDS": "1",
        "MAESTRO_CALL_DEADLINE_SECONDS": "6",
        "MAESTRO_LOST_CALL_GRACE_SECONDS": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    _take_queued_messages()
    yield
    _take_queued_messages()


@pytest.fixture
def author(tenant_a, fake_provider):
    """The fake provider's models for tenant A, Maestro's shared prompts and flows, and an author."""
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(author=author, created_by=None, tone="Direct, warm")
    return author


def _take_queued_messages() -> list[dict]:
    """Pop this test run's messages off its Celery queue: (task, args) of each."""
    client = events._client()
    taken = []
    while (raw := client.rpop(django_settings.CELERY_TASK_DEFAULT_QUEUE)) is not None:
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        taken.append({"task": message["headers"]["task"], "args": args})
    return taken


def _sweep_until(predicate, timeout: float = 45.0):
    """Run the sweeper as beat would (every half second here) until `predicate()` holds."""

    def swept():
        sweeper.sweep()
        return predicate()

    return wait_for(swept, timeout=timeout, interval=0.5)


def _run(tenant, run_id) -> FlowRun:
    with tenant_scope(tenant):
        return FlowRun.objects.get(pk=run_id)


# ---- a worker killed mid-call ------------------------------------------------------------------------


def test_a_run_whose_worker_is_killed_mid_call_resumes_in_seconds_and_both_calls_are_accounted(
    tenant_a, author, fake_provider, celery_worker_process, fast_runs
):
    # The first draft call hangs (the worker dies during it); the resumed one answers.
    fake_provider.enqueue(Behaviour(text="never delivered", headers_delay=30), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text="Draft two."), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    first = celery_worker_process()  # visibility timeout 3600 s: redelivery cannot be what saves the run
    with tenant_scope(tenant_a):
        run, _ = flow_start(author=author, brief="What 100 onboarding calls taught us")
    wait_for(lambda: fake_provider.requests(model="fake-standard"))
    first.kill()
    killed_at = time.monotonic()
    _sweep_until(lambda: _run(tenant_a, run.pk).takeovers == 1)
    taken_over_after = time.monotonic() - killed_at
    print(f"\nrun taken over {taken_over_after:.1f} s after its worker was killed")
    # Stale after 1.5 s without a beat, swept every 0.5 s here (production: 30 s and 15 s); the broker
    # alone would have waited for its visibility timeout (an hour in this test, 720 s in production).
    assert taken_over_after < 5
    celery_worker_process()

    def resumed():
        with tenant_scope(tenant_a):
            return StepRun.objects.filter(run=run, key="draft", attempts=2).exists()

    _sweep_until(resumed)
    wait_for(lambda: _run(tenant_a, run.pk).status == RunStatus.SUCCEEDED, timeout=30)
    assert _run(tenant_a, run.pk).takeovers == 1

    def both_traced():
        with tenant_scope(tenant_a):
            return Trace.objects.filter(flow_run_id=run.pk, step="draft").count() == 2

    _sweep_until(both_traced)  # the killed call is overdue once its deadline (6 s) and grace pass
    with tenant_scope(tenant_a):
        traces = {t.status: t for t in Trace.objects.filter(flow_run_id=run.pk, step="draft")}
    assert set(traces) == {"ok", "error"}
    interrupted = traces["error"]
    assert interrupted.error_code == "interrupted"
    assert [a["status"] for a in interrupted.attempts] == ["interrupted"]
    assert interrupted.cost_micros > 0  # its prompt, at the least
    assert interrupted.usage_estimated
    assert interrupted.pk != traces["ok"].pk  # the retried call is a new attempt with its own id
    assert len(fake_provider.requests(model="fake-standard")) == 2  # sent twice, both accounted


# ---- lost and duplicate messages ---------------------------------------------------------------


def test_a_lost_message_is_sent_again_by_the_sweeper_and_a_duplicate_runs_nothing_twice(
    tenant_a, author, fake_provider, celery_worker_process, fast_runs
):
    fake_provider.set_behaviour(Behaviour(text="The draft."), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    with tenant_scope(tenant_a):
        run, _ = flow_start(author=author, brief="A brief whose message is lost")
    assert _take_queued_messages() == [{"task": queueing.RUN_FLOW, "args": [tenant_a.pk, run.pk]}]  # lost
    assert sweeper.sweep().requeued == []  # not yet: it may still be on its way
    time.sleep(FAST_RUNS["requeue_after_seconds"])
    assert sweeper.sweep().requeued == [run.pk]
    queueing.send_now(queueing.RUN_FLOW, tenant_a.pk, run.pk)  # and a duplicate of it
    celery_worker_process()
    wait_for(lambda: _run(tenant_a, run.pk).status == RunStatus.SUCCEEDED)
    time.sleep(1)  # room for the duplicate to be taken
    with tenant_scope(tenant_a):
        draft_step = StepRun.objects.get(run=run, key="draft")
    assert draft_step.attempts == 1
    assert len(fake_provider.requests(model="fake-standard")) == 1
    assert _take_queued_messages() == []


def test_a_run_that_keeps_stopping_fails_with_the_reason_after_its_takeovers(tenant_a, fast_runs):
    long_ago = timezone.now() - timedelta(minutes=5)
    tired = make_run(tenant=tenant_a, status=RunStatus.RUNNING, heartbeat_at=long_ago, takeovers=3)
    stalled = make_run(tenant=tenant_a, status=RunStatus.RUNNING, heartbeat_at=long_ago, claimed_by="w1")
    beating = make_run(tenant=tenant_a, status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    report = sweeper.sweep()
    assert (report.failed, report.taken_over) == ([tired.pk], [stalled.pk])
    tired, stalled, beating = (_run(tenant_a, r.pk) for r in (tired, stalled, beating))
    assert tired.status == RunStatus.FAILED
    assert tired.error.startswith("The run stopped 4 times without finishing")
    assert (stalled.status, stalled.takeovers, stalled.claimed_by) == (RunStatus.QUEUED, 1, "")
    assert beating.status == RunStatus.RUNNING
    assert _take_queued_messages() == [{"task": queueing.RUN_FLOW, "args": [tenant_a.pk, stalled.pk]}]


def test_a_worker_whose_run_was_taken_over_stops_before_its_next_step(tenant_a, fast_runs):
    run = make_run(tenant=tenant_a)
    token = sweeper.claim_run(run.pk)
    assert token is not None
    assert sweeper.claim_run(run.pk) is None  # held: a second message does nothing
    FlowRun.objects.unscoped().filter(pk=run.pk).update(claimed_by="another-worker")  # a takeover
    with sweeper.Lease(run.pk, token, interval=0.05) as lease:
        wait_for(lambda: lease.lost, timeout=5, interval=0.05)
        with pytest.raises(
            sweeper.RunTakenOverError, match=f"^run {run.pk} was taken over by another worker$"
        ):
            lease.check()


def test_beat_registers_the_sweeper_in_its_database_schedule(db, fast_runs):
    current_app.loader.import_default_modules()  # as `celery beat` does first: the apps' tasks.py
    beat_init.send(sender=None)  # what it sends when it starts
    beat_init.send(sender=None)  # idempotent
    task = PeriodicTask.objects.get(name=sweeper.SCHEDULE_NAME)
    assert (task.task, task.enabled, task.interval.every, task.interval.period) == (
        queueing.SWEEP,
        True,
        1,
        "seconds",
    )
    assert queueing.SWEEP in current_app.tasks  # a name the workers know


# ---- Redis killed under a running Maestro --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own, to kill and start again on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        argv = [binary, "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        wait_for(self._answers, timeout=10, interval=0.05)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis(settings, monkeypatch):
    """Maestro (this process and its workers) on a Redis of the test's own, database 15 as in tests."""
    redis = OwnRedis().start()
    url = redis.url.rsplit("/", 1)[0] + "/15"
    app = current_app._get_current_object()
    previous = settings.CELERY_BROKER_URL  # read before anything is pointed elsewhere
    publisher = events._client()  # this thread's progress publisher (on the suite's Redis), put back after
    monkeypatch.setenv("REDIS_URL", redis.url)  # workers: config/settings/test.py picks database 15
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    _point_celery_at(app, url)
    events._local.client = None
    yield redis
    _point_celery_at(app, previous)
    events._local.client = publisher
    redis.kill()


def _point_celery_at(app, url: str) -> None:
    app.conf.broker_url = url
    app._pool = None  # the producer pools are made from the broker URL on first use
    app.amqp._producer_pool = None


def test_redis_down_answers_503_at_once_keeps_the_run_and_it_runs_when_redis_is_back(
    tenant_a, author, fake_provider, celery_worker_process, fast_runs, own_redis
):
    fake_provider.set_behaviour(Behaviour(text="The draft."), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    api = make_created_key(tenant=tenant_a, requests_per_minute=0)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"}
    client = APIClient()
    body = {"author": author.pk, "brief": "Before the outage"}
    celery_worker_process()
    first = client.post("/api/v1/generations", body, format="json", **headers)
    assert first.status_code == 202
    wait_for(lambda: _run(tenant_a, first.json()["id"]).status == RunStatus.SUCCEEDED)  # its pools are warm

    own_redis.kill()
    started = time.monotonic()
    during = client.post(
        "/api/v1/generations", {**body, "brief": "During the outage"}, format="json", **headers
    )
    elapsed = time.monotonic() - started
    print(f"\nPOST /api/v1/generations with Redis down: {during.status_code} in {elapsed:.2f} s")
    assert during.status_code == 503
    assert elapsed < 3  # was an HTML 500 after 19 s
    error = during.json()["error"]
    assert error["code"] == "queue_unavailable"
    assert during["Retry-After"] == "10"
    run_id = error["details"]["generation"]
    assert _run(tenant_a, run_id).status == RunStatus.QUEUED  # saved, not lost

    own_redis.start()  # an empty Redis, as after a restart without persistence
    _sweep_until(lambda: _run(tenant_a, run_id).status != RunStatus.QUEUED, timeout=30)
    wait_for(lambda: _run(tenant_a, run_id).status in (RunStatus.SUCCEEDED, RunStatus.FAILED), timeout=60)
    done = _run(tenant_a, run_id)
    assert done.status == RunStatus.SUCCEEDED, done.error  # its first calls after the restart went through
    with tenant_scope(tenant_a):
        assert StepRun.objects.get(run_id=run_id, key="draft").status == StepStatus.SUCCEEDED
