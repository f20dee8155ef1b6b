"""A web server SIGKILLed after answering a call, before its bookkeeping ran: a real uvicorn process
(the launcher's command line), the fake provider over HTTP, real Redis and PostgreSQL. The call's
trace and its settle happen after the response; the journal of calls in flight got the call's trace
before the answer went out, so the sweeper writes that trace and settles its cost exactly once."""

from __future__ import annotations

import json
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async

from api.tests.factories import make_created_key
from gateway.budgets import windows as budget_windows
from gateway.catalog import forget_catalog, load_catalog
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import fast_config, register_fake_models, run_with_runtime
from gateway.tracing import CallJournal, reconcile_lost_calls
from tenants.context import tenant_scope
from testing.fake_server import Behaviour
from testing.netns import free_port
from testing.web_server import WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TRACE_HELD_SECONDS = 60  # traces wait this long in the server's batch: the kill always comes first


def _ledger_figures(tenant, prefix: str) -> tuple[list[tuple[int, int]], list[dict]]:
    """(spent, reserved) of each budget window of the tenant, and the journal's entries."""

    async def read(runtime):
        catalog = await sync_to_async(load_catalog)(tenant, fresh=True)
        windows = budget_windows.windows_for_call(catalog, user_id=None, author_id=None)
        usage = await runtime.ledger.usage([w.window for w in windows])
        journal = await CallJournal(runtime.redis, prefix).overdue(time.time() + 3600)
        return [(u.spent_micros, u.reserved_micros) for u in usage], journal

    return run_with_runtime(read, fast_config(key_prefix=prefix))


def _answer(response: httpx.Response, *, streamed: bool) -> tuple[str, dict]:
    """The answer's text and usage, from a JSON body or from Server-Sent Events."""
    if not streamed:
        return response.json()["choices"][0]["message"]["content"], response.json()["usage"]
    chunks = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return text, next(c["usage"] for c in chunks if c.get("usage"))


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_web_server_killed_after_answering_leaves_its_call_traced_and_settled_once(
    tenant_a, fake_provider, tmp_path, streamed
):
    register_fake_models(tenant_a, fake_provider.base_url)
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal("1.00"))
    key = make_created_key(tenant=tenant_a).token
    prefix = f"maestro-crash-{uuid.uuid4().hex[:8]}"
    gateway = {"key_prefix": prefix, "trace_flush_seconds": TRACE_HELD_SECONDS}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "MAESTRO_TEST_GATEWAY": json.dumps(gateway),
    }
    server = WebServer(
        host="127.0.0.1", port=free_port("127.0.0.1"), env=env, cwd=ROOT, log=tmp_path / "web.log"
    )
    fake_provider.set_behaviour(Behaviour(text="Kept after the crash"))
    try:
        server.start().wait_until_up()
        response = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={
                "model": "standard-a",
                "messages": [{"role": "user", "content": "Hi"}],
                "stream": streamed,
                "stream_options": {"include_usage": True} if streamed else None,
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        server.kill()  # no lifespan shutdown: the trace batch dies with the process
    finally:
        server.kill()
    assert response.status_code == 200
    text, usage = _answer(response, streamed=streamed)
    assert text == "Kept after the crash"
    call_id = response.headers["X-Maestro-Call-Id"]
    with tenant_scope(tenant_a):
        assert not Trace.objects.filter(pk=call_id).exists()
    _, journal = _ledger_figures(tenant_a, prefix)
    assert [(entry["call_id"], "trace" in entry) for entry in journal] == [(call_id, True)]

    # Not before the trace was due and the sweeper's grace has passed (the process might be slow only).
    assert reconcile_lost_calls(now=time.time() + 1, prefix=prefix) == 0
    later = time.time() + TRACE_HELD_SECONDS + 31
    assert reconcile_lost_calls(now=later, prefix=prefix) == 1
    assert reconcile_lost_calls(now=later, prefix=prefix) == 0  # once

    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=call_id)
    assert (trace.status, trace.error_code, trace.response, trace.streamed) == ("ok", "", text, streamed)
    assert (trace.input_tokens, trace.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert [a["status"] for a in trace.attempts] == ["ok"]
    assert trace.cost_micros > 0
    windows, journal = _ledger_figures(tenant_a, prefix)
    assert windows == [(trace.cost_micros, 0)]  # the cost spent once, the hold given back
    assert journal == []
