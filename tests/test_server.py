"""The production web server (uvicorn on config.asgi, as `make run` starts it), as a real process on
loopback against the test database, serving /v1 to the official SDK and to many clients at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from django.db import connection

from api.tests.factories import make_created_key
from config.launcher import web_command
from gateway.models import Trace
from gateway.tests.gateway_support import register_fake_models
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60


class Server:
    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process, self.url = process, url

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process manager stops it, and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}")
        try:
            httpx.get(f"{server.url}/v1/models", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer in time")


@pytest.fixture
def start_server(transactional_db) -> Iterator[Callable[..., Server]]:
    """`start_server(**gateway settings)`: uvicorn with the launcher's own command line."""
    servers: list[Server] = []

    def start(**gateway) -> Server:
        port = _free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.server_settings",
            "MAESTRO_TEST_GATEWAY": json.dumps(gateway),
        }
        command = web_command(port=port, access_log=False, python=sys.executable)
        process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own command line
        server = Server(process, f"http://127.0.0.1:{port}")
        servers.append(server)
        _wait_until_up(server)
        return server

    yield start
    for server in servers:
        try:
            server.stop(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture
def key_a(tenant_a, fake_provider) -> str:
    register_fake_models(tenant_a, fake_provider.base_url)
    return make_created_key(tenant=tenant_a).token


def _traces(tenant) -> int:
    with tenant_scope(tenant):
        return Trace.objects.count()


def _wait_for(predicate: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_the_production_server_serves_v1_to_the_openai_sdk(start_server, key_a, tenant_a, fake_provider):
    server = start_server()
    fake_provider.set_behaviour(Behaviour(text="One two three"))
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key_a, max_retries=0, timeout=30) as sdk:
        completion = sdk.chat.completions.create(
            model="standard-a", messages=[{"role": "user", "content": "Hi"}]
        )
        chunks = list(
            sdk.chat.completions.create(
                model="small", messages=[{"role": "user", "content": "Count"}], stream=True
            )
        )
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "One two three"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "One two three"
    assert _wait_for(lambda: _traces(tenant_a) == 2)


def test_v1_reuses_upstream_connections(start_server, key_a, fake_provider):
    server = start_server(http_clients=2)  # two pool shards: at most two connections to keep alive
    accepted_before = fake_provider.stats()["accepted"]
    body = {"model": "standard-a", "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key_a}"}) as client:
        statuses = [client.post("/v1/chat/completions", json=body).status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert fake_provider.stats()["accepted"] - accepted_before <= 2


def _sessions_opened() -> int:
    """Connections ever made to the test database (PostgreSQL counts them in pg_stat_database)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_the_server_lends_database_connections_from_a_pool(start_server, key_a, fake_provider):
    """Each ASGI request runs its database work on a thread of its own: without the pool, each one
    opened a connection (a new PostgreSQL backend process)."""
    server = start_server()
    body = {"model": "standard-a", "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key_a}"}) as client:
        client.post("/v1/chat/completions", json=body)  # the pool opens its first connections
        before = _sessions_opened()
        statuses = [client.post("/v1/chat/completions", json=body).status_code for _ in range(30)]
        assert statuses == [200] * 30
        assert _sessions_opened() - before <= 3  # the pool's own, and this test's; was one per request
        # The database drops the server's connections (a restart, an operator): the pool checks each
        # connection before lending it, so no request fails on a dead one.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1
        after = [client.post("/v1/chat/completions", json=body).status_code for _ in range(5)]
    assert after == [200] * 5


def test_the_trace_lands_after_the_response_and_a_stopping_server_drains_it(
    start_server, key_a, tenant_a, fake_provider
):
    server = start_server(trace_flush_seconds=60)  # traces would wait a minute in the batch
    body = {"model": "standard-a", "messages": [{"role": "user", "content": "Hi"}]}
    response = httpx.post(
        f"{server.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key_a}"}
    )
    assert response.status_code == 200
    assert _traces(tenant_a) == 0  # the answer did not wait for the trace
    assert server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    with tenant_scope(tenant_a):
        trace = Trace.objects.get()  # lifespan shutdown flushed it
    assert str(trace.pk) == response.headers["X-Maestro-Call-Id"]
    assert trace.cost > 0


async def _many_at_once(url: str, token: str, clients: int) -> tuple[dict[int, int], list[str]]:
    body = {"model": "small", "messages": [{"role": "user", "content": "Hi"}]}
    statuses: dict[int, int] = {}
    failures: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one() -> None:
            try:
                response = await client.post(
                    "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            except httpx.TransportError as exc:  # reset, refused, closed without a response
                failures.append(type(exc).__name__)

        await asyncio.gather(*(one() for _ in range(clients)))
    return statuses, failures


def test_320_concurrent_clients_see_no_connection_resets(start_server, key_a, fake_provider):
    server = start_server()
    fake_provider.set_behaviour(Behaviour(text="ok", headers_delay=0.05))
    statuses, failures = asyncio.run(_many_at_once(server.url, key_a, 320))
    assert failures == []
    assert sum(statuses.values()) == 320
    assert set(statuses) <= {200, 429}, statuses  # answered, or refused by the tenant's own limits
