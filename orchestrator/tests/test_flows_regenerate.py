"""Asking again gets a new answer: a regenerated run and a reviewer's revision are never served from
the cache (in process: the gateway call of a step, the fake provider over HTTP, no worker)."""

from __future__ import annotations

import time

import pytest

from gateway.cache import forget_cache_policy
from gateway.models import Trace
from gateway.providers.base import Message
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows.services import flow_start, run_regenerate
from orchestrator.flows.steps import RunContext, gateway_call
from orchestrator.tests.factories import make_author, make_definition, make_run
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

# The gateway answers on its own thread and connection: the rows it reads must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

BRIEF = "Why we call every new customer in week one"
MESSAGES = [Message("system", "You ghostwrite LinkedIn posts."), Message("user", f"Write a post: {BRIEF}")]


@pytest.fixture
def author(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=True)  # posts: exact repeats
    forget_cache_policy()
    make_definition(tenant=tenant_a)
    return make_author(tenant=tenant_a)


def _draft(tenant, run, author, *, step_key: str = "draft", **context) -> tuple[str, dict]:
    with tenant_scope(tenant):
        ctx = RunContext(run=run, author=author, profile=None, step_key=step_key, **context)
        answer = gateway_call(ctx, purpose="post", messages=MESSAGES, parameters={})
        trace = _written(answer["call_id"])
    return answer["text"], trace.routing.get("cache", {})


def _written(call_id: str, timeout: float = 20.0) -> Trace:
    """The call's trace, once the gateway's bookkeeping (the cache store first) has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trace = Trace.objects.filter(pk=call_id).first()
        if trace is not None:
            return trace
        time.sleep(0.05)
    raise AssertionError(f"no trace for call {call_id}")


def test_the_same_brief_run_again_gets_a_new_draft_not_the_cached_one(tenant_a, author, fake_provider):
    fake_provider.enqueue(Behaviour(text="Draft one."), Behaviour(text="Draft two."), model="fake-standard")
    first_run = make_run(tenant=tenant_a, author=author, brief=BRIEF)
    first, _ = _draft(tenant_a, first_run, author)
    with tenant_scope(tenant_a):
        again, _created = flow_start(author=author, brief=BRIEF)
    assert again.inputs["regenerate"] is True
    second, cache = _draft(tenant_a, again, author)
    assert (first, second) == ("Draft one.", "Draft two.")
    assert cache["hit"] is False
    assert "fresh answer" in cache["reason"]
    assert len(fake_provider.requests()) == 2


def test_without_the_bypass_the_identical_request_would_have_been_served(tenant_a, author, fake_provider):
    fake_provider.enqueue(Behaviour(text="Draft one."), model="fake-standard")
    _draft(tenant_a, make_run(tenant=tenant_a, author=author, brief=BRIEF), author)
    replay, cache = _draft(tenant_a, make_run(tenant=tenant_a, author=author, brief=BRIEF), author)
    assert replay == "Draft one."
    assert cache["hit"] is True
    assert len(fake_provider.requests()) == 1


def test_regenerate_starts_a_new_run_of_the_same_brief_that_skips_the_cache(tenant_a, author, fake_provider):
    fake_provider.enqueue(Behaviour(text="Draft one."), Behaviour(text="Draft two."), model="fake-standard")
    run = make_run(tenant=tenant_a, author=author, brief=BRIEF, inputs={"tone": "warm"})
    _draft(tenant_a, run, author)
    with tenant_scope(tenant_a):
        new_run = run_regenerate(run=run)
    assert new_run.pk != run.pk
    assert new_run.brief == BRIEF
    assert new_run.inputs == {"tone": "warm", "regenerate": True}
    text, cache = _draft(tenant_a, new_run, author)
    assert text == "Draft two."
    assert cache["hit"] is False


def test_a_revision_a_reviewer_asked_for_is_never_served_from_the_cache(tenant_a, author, fake_provider):
    fake_provider.enqueue(Behaviour(text="Draft one."), Behaviour(text="Revised."), model="fake-standard")
    run = make_run(tenant=tenant_a, author=author, brief=BRIEF)
    _draft(tenant_a, run, author)
    # The same request as the draft's, as a revision of a reviewer's (revision.py sets `fresh`).
    text, cache = _draft(tenant_a, run, author, step_key="human.revise.1", fresh=True)
    assert text == "Revised."
    assert cache["hit"] is False
