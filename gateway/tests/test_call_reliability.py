"""Calls that never go unaccounted: bad text refused before anything is paid, one deadline per call, a
hung model given up for the fallback, a caller that leaves stops the call, every attempt journalled
before it is sent, and tenants' provider URLs kept out of our network. Real HTTP (the fake provider on
loopback), real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

import gateway
from common.net import check_outbound_url
from gateway import GatewayError
from gateway.budgets import windows as budgets
from gateway.catalog import forget_catalog, load_catalog
from gateway.core import AttemptRecord, Call
from gateway.models import Budget, LLMModel, ProviderEndpoint, Trace
from gateway.resilience import TimeoutPolicy
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from gateway.tracing import CallJournal, reconcile_lost_calls
from tenants.context import cross_tenant_access, tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_a(tenant_a, fake_provider):
    return register_fake_models(tenant_a, fake_provider.base_url)


def _complete(request, config=None):
    return run_with_runtime(lambda rt: gateway.complete(request, runtime=rt), config)


def _trace(tenant, call_id) -> Trace:
    with tenant_scope(tenant):
        return Trace.objects.get(pk=call_id)


def _budget(tenant, limit: str) -> Budget:
    forget_catalog()
    with tenant_scope(tenant):
        return Budget.objects.create(scope="tenant", period="day", limit=Decimal(limit))


# ---- text that cannot be stored ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "reason"), [("a\x00b", "NUL"), ("a\ud800b", "lone surrogate")])
def test_a_prompt_postgres_cannot_store_is_refused_before_any_charge_or_provider_call(
    tenant_a, models_a, fake_provider, text, reason
):
    _budget(tenant_a, "1.00")
    with pytest.raises(GatewayError, match=rf"^Message 0 \(user\) contains a {reason}") as caught:
        _complete(request_for(tenant_a, f"Write about {text}"))
    assert (caught.value.code, caught.value.http_status) == ("bad_request", 400)
    assert fake_provider.requests() == []
    trace = _trace(tenant_a, caught.value.call_id)  # traced (cleaned), where before the insert failed
    assert (trace.status, trace.cost_micros) == ("refused", 0)
    assert not any(char in trace.prompt[0]["content"] for char in "\x00\ud800")


# ---- deadlines ---------------------------------------------------------------------------------------


def test_a_hung_model_is_given_up_after_one_timeout_and_the_fallback_answers(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(hang=True), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text="from the fallback"), model="fake-standard-b")
    started = time.monotonic()
    response = _complete(request_for(tenant_a))
    elapsed = time.monotonic() - started
    assert (response.text, response.model) == ("from the fallback", "standard-b")
    trace = _trace(tenant_a, response.call_id)
    # One timeout (3 s, fast_config's total) and then the fallback, not three timeouts in a row.
    assert [(a["model"], a["status"]) for a in trace.attempts] == [
        ("standard-a", "timeout"),
        ("standard-b", "ok"),
    ]
    assert elapsed < 5.5


def test_a_call_stops_at_its_deadline_with_every_model_hung(tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(hang=True))
    config = fast_config(timeouts=TimeoutPolicy(connect=1.0, min_total=1.0, max_total=3.0, call_deadline=1.5))
    started = time.monotonic()
    with pytest.raises(
        GatewayError, match=r"^The call reached its 1\.5s deadline after 1 attempt\(s\); stopped\.$"
    ) as caught:
        _complete(request_for(tenant_a), config)
    elapsed = time.monotonic() - started
    assert (caught.value.code, caught.value.http_status) == ("deadline_exceeded", 504)
    assert 1.4 < elapsed < 2.5
    trace = _trace(tenant_a, caught.value.call_id)
    assert trace.error_code == "deadline_exceeded"
    assert [a["status"] for a in trace.attempts] == ["timeout"]
    # The attempt had only what was left of the call's deadline (less what the call spent before it,
    # more under load), not its own 3 s.
    given = re.fullmatch(r"total timeout \((\d+\.\d+)s\) exceeded", trace.attempts[0]["error"])
    assert given, trace.attempts[0]["error"]
    assert 0 < float(given[1]) <= 1.5


# ---- a caller that stops listening -----------------------------------------------------------------


async def _wait_closed(fake_provider, baseline: int, timeout: float = 3.0) -> int:
    """Connections to the fake provider beyond `baseline` (its control connection) once they close."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fake_provider.stats()["open"] <= baseline:
            break
        await asyncio.sleep(0.05)
    return fake_provider.stats()["open"] - baseline


def test_a_stream_the_caller_closes_is_closed_upstream_and_traced_as_cancelled(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(output_tokens=200, tokens_per_second=20))

    async def scenario(runtime):
        baseline = fake_provider.stats()["open"]
        request = request_for(tenant_a)
        events = gateway.stream(request, runtime=runtime)
        deltas = 0
        async for event in events:
            deltas += event.kind == "delta"
            if deltas == 3:
                break
        await events.aclose()  # what an ASGI server does with the body of a client that went away
        return request.call_id, await _wait_closed(fake_provider, baseline)

    call_id, still_open = run_with_runtime(scenario)
    assert still_open == 0  # the upstream connection was closed, not left generating
    assert len(fake_provider.requests()) == 1
    trace = _trace(tenant_a, call_id)
    assert trace.error_code == "cancelled"
    assert [a["status"] for a in trace.attempts] == ["cancelled"]
    assert trace.cost_micros > 0  # the tokens it generated before the caller left are paid for


def test_a_cancelled_call_task_stops_the_chain_and_closes_the_provider_request(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(hang=True), model="fake-standard")

    async def scenario(runtime):
        baseline = fake_provider.stats()["open"]
        request = request_for(tenant_a)
        task = asyncio.ensure_future(gateway.complete(request, runtime=runtime))
        while not fake_provider.requests():
            await asyncio.sleep(0.02)
        task.cancel()  # the caller's task is cancelled: its client disconnected
        with pytest.raises(asyncio.CancelledError):
            await task
        return request.call_id, await _wait_closed(fake_provider, baseline)

    call_id, still_open = run_with_runtime(scenario)
    assert still_open == 0
    assert len(fake_provider.requests()) == 1  # no retry, no fallback for a caller who is gone
    trace = _trace(tenant_a, call_id)
    assert trace.error_code == "cancelled"
    assert [a["status"] for a in trace.attempts] == ["cancelled"]


def test_a_stream_that_fails_mid_answer_goes_no_further_once_its_caller_stops(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(output_tokens=30, cut_after_chunks=3))

    async def scenario(runtime):
        request = request_for(tenant_a)
        events = gateway.stream(request, runtime=runtime)
        async for event in events:
            if event.kind == "restart":  # an OpenAI client cannot take a restart: it gets an error
                break
        await events.aclose()
        await asyncio.sleep(0.3)  # anything still running in the background would call again
        return request.call_id

    call_id = run_with_runtime(scenario)
    assert len(fake_provider.requests()) == 1
    trace = _trace(tenant_a, call_id)
    assert trace.error_code == "cancelled"
    assert [a["status"] for a in trace.attempts] == ["stream_interrupted"]


# ---- the journal of calls in flight --------------------------------------------------------------


def test_an_attempt_is_journalled_before_it_is_sent_and_forgotten_once_traced(
    tenant_a, models_a, fake_provider
):
    fake_provider.set_behaviour(Behaviour(text="slow answer", headers_delay=0.6))
    config = fast_config()

    async def scenario(runtime):
        journal = CallJournal(runtime.redis, config.key_prefix)
        request = request_for(tenant_a)
        task = asyncio.ensure_future(gateway.complete(request, runtime=runtime))
        while not fake_provider.requests():
            await asyncio.sleep(0.02)
        during = await journal.overdue(time.time() + 3600)
        await task
        await runtime.background.drain()
        return request.call_id, during, await journal.overdue(time.time() + 3600)

    call_id, during, after = run_with_runtime(scenario, config)
    assert [(e["call_id"], e["model_alias"], e["attempts"][-1]["status"]) for e in during] == [
        (str(call_id), "standard-a", "started")
    ]
    assert during[0]["input_cost_micros"] > 0
    assert after == []
    assert _trace(tenant_a, call_id).status == "ok"


def test_a_call_whose_process_died_is_traced_as_interrupted_and_charged(tenant_a, models_a, fake_provider):
    budget = _budget(tenant_a, "1.00")
    config = fast_config()

    async def process_that_dies(runtime):
        # Everything a call does up to sending its first attempt; then nothing (SIGKILL).
        call = Call(request_for(tenant_a, flow_run_id=7, step="draft"), runtime, stream=True)
        await call.prepare()
        model = call._model(call._routed().chain[0].alias)
        call.attempts.append(AttemptRecord(model=model.alias, status="started"))
        await call._journal(model)
        return call.request.call_id, model.cost_micros(call.prompt_tokens, 0)

    call_id, input_cost = run_with_runtime(process_that_dies, config)
    assert reconcile_lost_calls(now=time.time() + 60, prefix=config.key_prefix) == 0  # not overdue yet
    assert reconcile_lost_calls(now=time.time() + 400, prefix=config.key_prefix) == 1
    assert reconcile_lost_calls(now=time.time() + 400, prefix=config.key_prefix) == 0  # once
    trace = _trace(tenant_a, call_id)
    assert (trace.status, trace.error_code, trace.flow_run_id, trace.step) == (
        "error",
        "interrupted",
        7,
        "draft",
    )
    assert [a["status"] for a in trace.attempts] == ["interrupted"]
    assert (trace.cost_micros, trace.usage_estimated) == (input_cost, True)

    async def spent(runtime):
        catalog = await sync_to_async(load_catalog)(tenant_a, fresh=True)
        windows = budgets.windows_for_call(catalog, user_id=None, author_id=None)
        return await runtime.ledger.usage([w.window for w in windows])

    usage = run_with_runtime(spent, config)
    assert (usage[0].spent_micros, usage[0].reserved_micros) == (input_cost, 0)
    assert budget.pk


def test_an_entry_left_by_a_deleted_tenant_or_model_never_holds_up_the_others(tenant_a, models_a):
    config = fast_config()
    gone_model = {"call_id": str(uuid.uuid4()), "tenant_id": tenant_a.pk, "model_id": 999_999, "attempts": []}
    gone_tenant = {"call_id": str(uuid.uuid4()), "tenant_id": 999_999, "model_id": None, "attempts": []}

    async def leave_entries(runtime):
        journal = CallJournal(runtime.redis, config.key_prefix)
        for entry in (gone_tenant, gone_model):
            await journal.record(entry["call_id"], entry, deadline=time.time() - 100)

    run_with_runtime(leave_entries, config)
    assert reconcile_lost_calls(prefix=config.key_prefix) == 1  # the one whose tenant still exists
    trace = _trace(tenant_a, gone_model["call_id"])
    assert (trace.error_code, trace.model_id) == ("interrupted", None)
    assert reconcile_lost_calls(prefix=config.key_prefix) == 0  # both entries are gone from the journal


# ---- tenants' provider URLs ------------------------------------------------------------------------


def test_a_tenant_provider_on_an_internal_address_is_refused_but_the_operators_is_not(
    tenant_a, models_a, fake_provider, settings
):
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
    fake_provider.set_behaviour(Behaviour(text="internal secrets"))
    with pytest.raises(
        GatewayError, match=r"the provider's address is refused: 127\.0\.0\.1 resolves to an internal"
    ) as caught:
        _complete(request_for(tenant_a))
    assert caught.value.code == "provider_rejected"
    assert fake_provider.requests() == []  # nothing reached the internal listener
    # A provider Maestro's staff share (no tenant) is the operator's: it may be a self-hosted model.
    with cross_tenant_access("test: the operator registers a shared self-hosted model"):
        shared = ProviderEndpoint.objects.create(
            tenant=None, name="local", kind="openai", base_url=fake_provider.base_url
        )
        LLMModel.objects.create(
            tenant=None,
            provider=shared,
            alias="local-small",
            model_name="fake-local",
            tier="small",
            input_price_per_mtok=0,
            output_price_per_mtok=0,
            context_window=4096,
            max_output_tokens=512,
        )
    forget_catalog()
    response = _complete(request_for(tenant_a, model="local-small"))
    assert response.model == "local-small"
    assert len(fake_provider.requests()) == 1


def test_a_tenant_provider_name_that_rebinds_to_an_internal_address_is_refused(
    tenant_a, fake_provider, settings, monkeypatch
):
    """The address is checked where the connection is made: a name that resolves to a public address
    once and to 127.0.0.1 afterwards never reaches the internal listener."""
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
    port = int(fake_provider.base_url.rsplit(":", 1)[1].split("/", 1)[0])
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, *args, **kwargs):
        if host in ("llm.rebind.test", b"llm.rebind.test"):  # anyio passes the name IDNA-encoded
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://llm.rebind.test:{port}/v1"
    assert check_outbound_url(url).addresses == ("93.184.216.34",)  # what the form saw when it was saved
    register_fake_models(tenant_a, url, second_provider=False)
    with pytest.raises(
        GatewayError, match=r"llm\.rebind\.test resolves to an internal address \(127\.0\.0\.1\)"
    ):
        _complete(request_for(tenant_a))
    assert fake_provider.requests() == []
