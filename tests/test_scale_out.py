"""Maestro over several hosts: two web servers and two Celery workers, each host a network namespace
with its own address, around one PostgreSQL and one Redis reached over TCP (docs/serving.md:
Deployment). Each process starts from an empty working directory with only the environment a
deployment gives it, so nothing can lean on a local file, socket or loopback service. Shown across
hosts: a budget, a rate limit, a circuit breaker, a draft claim, a run's progress stream, and a run
whose worker's host dies, resumed by the sweeper on the other host.

The services live in the root namespace on a host-side address: our own redis-server, the fake
provider, and the test database of the embedded PostgreSQL (which listens on a socket file only)
through a TCP forwarder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from api.tests.factories import make_created_key
from authors.models import Author
from authors.services import style_profile_save
from config.workers import worker_command
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import register_fake_models
from orchestrator import queueing
from orchestrator.flows import events
from orchestrator.flows.services import flow_definitions_install
from orchestrator.models import FlowRun, RunStatus
from orchestrator.tests.factories import make_draft
from orchestrator.tests.test_flows import PASS
from prompts.services import prompt_defaults_install
from tenants.context import cross_tenant_access, tenant_scope
from tenants.tests.factories import make_member
from testing.fake_server import Behaviour
from testing.netns import FakeProviderAt, Host, Network, RedisServer, UnixSocketForwarder, unavailable_reason
from testing.web_server import WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = 8000  # every host has its own ports
WORKER_READY_SECONDS = 90
# Seconds here; production runs with about a minute (docs/reliability.md).
RUNS = {
    "heartbeat_seconds": 0.5,
    "stale_after_seconds": 3,
    "requeue_after_seconds": 2,
}
GATEWAY = {
    "circuit_failure_threshold": 2,
    "circuit_cooldown_seconds": 300,
    "retry": {"retries_per_model": 0},
    "timeouts": {"call_deadline": 8},
    "health_cache_seconds": 0.1,
}


@dataclass
class Deployment:
    network: Network
    redis: RedisServer
    provider: FakeProviderAt
    webs: list[WebServer]
    workers: dict[int, subprocess.Popen]  # by pid
    worker_logs: dict[int, Path]
    workdirs: list[Path]

    @property
    def broker_url(self) -> str:
        return self.redis.url(self.network.services_address, db=15)  # as config/settings/test.py picks


def _postgres_socket() -> str:
    """The socket file of the embedded PostgreSQL, from DATABASE_URL (`...?host=<directory>`)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return f"{parse_qs(parts.query)['host'][0]}/.s.PGSQL.{parts.port or 5432}"


def _host_environment(network: Network, redis: RedisServer, postgres: UnixSocketForwarder) -> dict[str, str]:
    """All a Maestro process on another host is given: where PostgreSQL and Redis are, its settings."""
    services = network.services_address
    database = connection.settings_dict["NAME"]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),  # the code, as a deployment installs it; the working directory is empty
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "DATABASE_URL": f"postgresql://postgres@{services}:{postgres.port}/{database}",
        "REDIS_URL": redis.url(services),
        "MAESTRO_TEST_DB": database,  # the queue and the keys of this test run (config/settings/test.py)
        "MAESTRO_TEST_GATEWAY": json.dumps(
            {**GATEWAY, "key_prefix": django_settings.MAESTRO_GATEWAY["key_prefix"]}
        ),
        "ALLOWED_HOSTS": ",".join(host.address for host in network.hosts),
        "MAESTRO_EMBEDDINGS_BACKEND": "hashing",
        "MAESTRO_RUN_HEARTBEAT_SECONDS": str(RUNS["heartbeat_seconds"]),
        "MAESTRO_RUN_STALE_SECONDS": str(RUNS["stale_after_seconds"]),
        "MAESTRO_RUN_REQUEUE_SECONDS": str(RUNS["requeue_after_seconds"]),
        "MAESTRO_LOST_CALL_GRACE_SECONDS": "0.5",
    }


def _start_worker(host: Host, env: dict[str, str], workdir: Path, log: Path) -> subprocess.Popen:
    argv = worker_command(
        concurrency=4,
        queue=django_settings.CELERY_TASK_DEFAULT_QUEUE,
        name=f"{host.name}@%h",
        python=sys.executable,
    )
    with log.open("wb") as handle:
        return subprocess.Popen(host.command(argv), cwd=workdir, env=env, stdout=handle, stderr=handle)  # noqa: S603


def _wait_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while b"ready." not in log.read_bytes()[-20000:]:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"a worker did not start; see {log}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def deployment(django_db_setup, tmp_path_factory) -> Iterator[Deployment]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"hosts are network namespaces here, and {reason}")
    logs = tmp_path_factory.mktemp("scale-out-logs")
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(Network.create(hosts=2))  # last out: kills what is left in it
        services = network.services_address
        redis = RedisServer(bind=[services]).start()
        stack.callback(redis.stop)
        postgres = UnixSocketForwarder(_postgres_socket(), listen=[services]).start()
        stack.callback(postgres.stop)
        provider = FakeProviderAt.launch(services)
        stack.callback(provider.shut_down)
        env = _host_environment(network, redis, postgres)
        webs, workers, workdirs, worker_logs = [], {}, [], {}
        for host in network.hosts:
            workdir = tmp_path_factory.mktemp(f"{host.name}-cwd")
            workdirs.append(workdir)
            log = logs / f"{host.name}-web.log"
            web = WebServer(
                host=host.address, port=WEB_PORT, env=env, cwd=workdir, log=log, prefix=host.command([])
            )
            web.start()
            stack.callback(web.stop)
            webs.append(web)
            log = logs / f"{host.name}-worker.log"
            worker = _start_worker(host, env, workdir, log)
            stack.callback(_stop, worker)
            workers[worker.pid] = worker
            worker_logs[worker.pid] = log
        with httpx.Client(trust_env=False) as probe:
            for web in webs:
                web.wait_until_up(client=probe)
        for pid, log in worker_logs.items():
            _wait_ready(workers[pid], log)
        yield Deployment(network, redis, provider, webs, workers, worker_logs, workdirs)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_the_hosts_are_quiet(timeout: float = 20, quiet_for: float = 1.0) -> None:
    """Until no other session on the test database has run a query or held a transaction open for
    `quiet_for` seconds. The hosts write traces just after they answer; the flush that ends each test
    (TRUNCATE) would otherwise deadlock with those inserts and leave the next test the rows."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
            )
            busy = cursor.fetchone()[0]
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_for:
            return
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def on_the_deployment(deployment, settings, transactional_db) -> Iterator[None]:
    """This process on the deployment's Redis, as its hosts are: it sends the sweeper's task as beat
    would (a worker runs it) and reads what the hosts wrote. Set up after the database, so that its
    teardown waits for the hosts to finish writing before the database is flushed."""
    app = current_app._get_current_object()
    previous_broker, publisher = settings.CELERY_BROKER_URL, events._client()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = deployment.broker_url
    _point_celery_at(app, deployment.broker_url)
    events._local.client = None
    deployment.provider.reset()
    yield
    _wait_until_the_hosts_are_quiet()
    deployment.provider.reset()
    _point_celery_at(app, previous_broker)
    events._local.client = publisher


def _point_celery_at(app, url: str) -> None:
    app.conf.broker_url = url
    app._pool = None  # the producer pools are made from the broker URL on first use
    app.amqp._producer_pool = None


@pytest.fixture
def clients(deployment) -> Iterator[list[httpx.Client]]:
    """One HTTP client per web server, in host order."""
    opened = [httpx.Client(base_url=web.url, trust_env=False, timeout=60) for web in deployment.webs]
    yield opened
    for client in opened:
        client.close()


def _chat(
    client: httpx.Client, key: str, *, model: str = "standard-a", max_tokens: int = 100
) -> httpx.Response:
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "A post, please"}],
    }
    return client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def _wait_for(predicate: Callable[[], object], timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def _traces(tenant, **filters) -> list[Trace]:
    with tenant_scope(tenant):
        return list(Trace.objects.filter(**filters).order_by("created_at"))


# ---- the gateway's shared state -------------------------------------------------------------------


def test_concurrent_calls_over_both_web_servers_never_overspend_one_budget(deployment, clients, tenant_a):
    register_fake_models(tenant_a, deployment.provider.base_url)
    limit_micros = 5_000  # about three calls of 100 output tokens (1,500 micros each)
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(limit_micros) / 1_000_000)
    # Every call writes as much as it may (its max_tokens), and they overlap at the provider.
    deployment.provider.set_behaviour(Behaviour(output_tokens=1000, headers_delay=0.5))
    key = make_created_key(tenant=tenant_a).token
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda i: _chat(clients[i % 2], key).status_code, range(12)))
    answered = _wait_for(lambda: len(_traces(tenant_a)) == 12 and _traces(tenant_a, status="ok"))
    spent = sum(trace.cost_micros for trace in answered)
    print(f"\nbudget {limit_micros} micros: {statuses.count(200)} calls answered, {spent} micros spent")
    assert sorted(set(statuses)) == [200, 402]
    assert len(answered) == statuses.count(200)
    assert limit_micros / 2 < spent <= limit_micros  # used up, never passed


def test_a_rate_limit_holds_over_both_web_servers_together(deployment, clients, tenant_a):
    register_fake_models(tenant_a, deployment.provider.base_url, requests_per_minute=3)
    deployment.provider.set_behaviour(Behaviour(text="Short."))
    key = make_created_key(tenant=tenant_a).token
    statuses = [_chat(clients[i % 2], key).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]  # each server alone would have allowed three


def test_a_circuit_opened_by_failures_through_one_host_is_open_on_the_other(deployment, clients, tenant_a):
    register_fake_models(tenant_a, deployment.provider.base_url)
    deployment.provider.set_behaviour(Behaviour(error="server_error"), model="fake-standard")
    deployment.provider.set_behaviour(Behaviour(text="From the other provider."), model="fake-standard-b")
    key = make_created_key(tenant=tenant_a).token
    first, second = clients
    for _ in range(2):  # the threshold here: two failures open the circuit
        _chat(first, key)
    assert len(deployment.provider.requests(model="fake-standard")) == 2
    _wait_for(lambda: len(_traces(tenant_a)) == 2)

    through_the_other = _chat(second, key)
    assert len(deployment.provider.requests(model="fake-standard")) == 2  # nothing more was sent to it
    trace = _wait_for(lambda: len(_traces(tenant_a)) == 3 and _traces(tenant_a)[-1])
    assert through_the_other.status_code == 503
    assert (trace.error_code, trace.error_message) == (
        "no_model_available",
        "Model 'standard-a' cannot serve this call: circuit open.",
    )


# ---- reviews, runs and their progress --------------------------------------------------------------


def test_a_draft_claimed_through_one_host_is_refused_through_the_other(clients, tenant_a):
    draft = make_draft(tenant=tenant_a)
    reviewer = make_created_key(tenant=tenant_a, name="CRM one").token
    other = make_created_key(tenant=tenant_a, name="CRM two").token
    first, second = clients
    url = f"/api/v1/drafts/{draft.pk}/claim"

    claimed = first.post(url, headers={"Authorization": f"Bearer {reviewer}"})
    refused = second.post(url, headers={"Authorization": f"Bearer {other}"})
    renewed = second.post(url, headers={"Authorization": f"Bearer {reviewer}"})

    assert (claimed.status_code, refused.status_code, renewed.status_code) == (200, 409, 200)
    assert refused.json()["error"]["code"] == "conflict"
    assert claimed.json()["state"] == renewed.json()["state"] == "in_review"


@pytest.fixture
def author(tenant_a, deployment) -> Author:
    register_fake_models(tenant_a, deployment.provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(author=author, created_by=None, tone="Direct, warm")
    return author


def _start_run(client: httpx.Client, tenant, author: Author, brief: str) -> int:
    key = make_created_key(tenant=tenant).token
    response = client.post(
        "/api/v1/generations",
        json={"author": author.pk, "brief": brief},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _session_cookie(membership) -> dict[str, str]:
    """A browser session, stored in PostgreSQL like every session, so any web server knows it."""
    client = Client()
    client.force_login(membership.user)
    return {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}


def _read_events(client: httpx.Client, url: str, cookies: dict[str, str]) -> list[tuple[str, dict]]:
    """Server-Sent Events until the run's last one (or a minute: keep-alives would go on for minutes)."""
    received: list[tuple[str, dict]] = []
    kind = ""
    deadline = time.monotonic() + 60
    with client.stream("GET", url, cookies=cookies) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                break
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                received.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "run" and received[-1][1].get("status") in (
                    "succeeded",
                    "failed",
                    "needs_attention",
                ):
                    return received
    return received


def test_a_run_started_through_one_web_server_streams_its_progress_through_the_other(
    deployment, clients, tenant_a, author
):
    deployment.provider.set_behaviour(Behaviour(text="Week one decides the year."), model="fake-standard")
    deployment.provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    run_id = _start_run(clients[0], tenant_a, author, "What 100 onboarding calls taught us")
    cookies = _session_cookie(make_member(tenant=tenant_a))

    received = _read_events(clients[1], f"/t/{tenant_a.slug}/work/runs/{run_id}/events/", cookies)

    assert received[-1][0] == "run"
    assert received[-1][1]["status"] == "succeeded"
    assert {kind for kind, _ in received} > {"run"}  # the steps' progress came through too
    with tenant_scope(tenant_a):
        assert FlowRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED


def test_a_run_whose_worker_host_dies_is_resumed_by_the_sweeper_on_the_other_host(
    deployment, clients, tenant_a, author
):
    provider = deployment.provider
    provider.enqueue(Behaviour(text="never delivered", headers_delay=30), model="fake-standard")
    provider.set_behaviour(Behaviour(text="Draft two."), model="fake-standard")
    provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    run_id = _start_run(clients[1], tenant_a, author, "Churn is a week-one problem")
    _wait_for(lambda: provider.requests(model="fake-standard"))

    def run() -> FlowRun:
        with tenant_scope(tenant_a):
            return FlowRun.objects.get(pk=run_id)

    holder = int(run().claimed_by.split(":")[1])  # "<hostname>:<pid>:<token>"; hosts share the hostname
    assert holder in deployment.workers
    deployment.workers[holder].send_signal(signal.SIGKILL)
    deployment.workers[holder].wait(10)
    killed_at = time.monotonic()

    def swept_until_finished():
        queueing.send_now(queueing.SWEEP)  # as beat sends it; a worker (the one left) runs it
        return run().status in (RunStatus.SUCCEEDED, RunStatus.FAILED)

    _wait_for(swept_until_finished, timeout=60, interval=0.5)
    print(f"\nrun finished {time.monotonic() - killed_at:.1f} s after its worker's host was killed")
    finished = run()
    assert (finished.status, finished.takeovers) == (RunStatus.SUCCEEDED, 1)
    survivor = int(finished.claimed_by.split(":")[1])
    assert survivor in deployment.workers
    assert survivor != holder
    assert b"taken over 1" in deployment.worker_logs[survivor].read_bytes()  # its sweep took the run over

    def both_draft_calls_traced():
        queueing.send_now(queueing.SWEEP)  # writes the killed call down once its deadline (8 s) passed
        return len(_traces(tenant_a, flow_run_id=run_id, step="draft")) == 2

    _wait_for(both_draft_calls_traced, timeout=30, interval=0.5)
    codes = sorted(trace.error_code for trace in _traces(tenant_a, flow_run_id=run_id, step="draft"))
    assert codes == ["", "interrupted"]


def test_no_host_left_anything_in_its_working_directory(deployment):
    assert [sorted(p.name for p in workdir.iterdir()) for workdir in deployment.workdirs] == [[], []]
