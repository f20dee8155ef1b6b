"""A call answered by a process that died before its bookkeeping (settle, trace insert) ran: the journal
of calls in flight holds the call's trace from before the answer, and the sweeper writes it and settles
its cost. Real HTTP (the fake provider on loopback), real Redis and PostgreSQL."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

import gateway
from gateway.budgets import windows as budget_windows
from gateway.catalog import forget_catalog, load_catalog
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import fast_config, register_fake_models, request_for, run_with_runtime
from gateway.tracing import CallJournal, reconcile_lost_calls
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


async def _figures(runtime, tenant) -> tuple[list[tuple[int, int]], list[dict]]:
    catalog = await sync_to_async(load_catalog)(tenant, fresh=True)
    windows = budget_windows.windows_for_call(catalog, user_id=None, author_id=None)
    usage = await runtime.ledger.usage([w.window for w in windows])
    journal = await CallJournal(runtime.redis, runtime.config.key_prefix).overdue(time.time() + 3600)
    return [(u.spent_micros, u.reserved_micros) for u in usage], journal


def test_a_call_answered_just_before_its_process_died_is_traced_and_settled_by_the_sweeper(
    tenant_a, fake_provider
):
    register_fake_models(tenant_a, fake_provider.base_url)
    forget_catalog()
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal("1.00"))
    fake_provider.set_behaviour(Behaviour(text="An answer the caller got.", output_tokens=12))
    config = fast_config()

    async def process_that_dies_after_answering(runtime):
        runtime.background.spawn = lambda bookkeeping: bookkeeping.close()  # SIGKILL: it never runs
        response = await gateway.complete(request_for(tenant_a, flow_run_id=7, step="draft"), runtime=runtime)
        return response, await _figures(runtime, tenant_a)

    response, (held, journal) = run_with_runtime(process_that_dies_after_answering, config)
    assert held[0][0] == 0
    assert held[0][1] > 0  # reserved, never settled
    assert [(e["call_id"], e["reserved"], e["trace"]["status"]) for e in journal] == [
        (str(response.call_id), True, "ok")
    ]
    with tenant_scope(tenant_a):
        assert not Trace.objects.filter(pk=response.call_id).exists()

    assert reconcile_lost_calls(now=time.time() + 1, prefix=config.key_prefix) == 0  # within the grace
    assert reconcile_lost_calls(now=time.time() + 60, prefix=config.key_prefix) == 1
    assert reconcile_lost_calls(now=time.time() + 60, prefix=config.key_prefix) == 0

    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=response.call_id)
    assert (trace.status, trace.response, trace.flow_run_id, trace.step) == (
        "ok",
        "An answer the caller got.",
        7,
        "draft",
    )
    assert (trace.output_tokens, trace.cost) == (response.output_tokens, response.cost)
    assert trace.model.alias == response.model
    settled, journal = run_with_runtime(lambda runtime: _figures(runtime, tenant_a), config)
    assert settled == [(trace.cost_micros, 0)]
    assert journal == []
