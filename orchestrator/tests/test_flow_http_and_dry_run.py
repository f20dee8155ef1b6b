"""The HTTP step authenticating to a CRM (a real server on loopback: headers, the secret, an HMAC
signature the CRM verifies) without the secret ever being stored, logged or shown; and the dry run,
which spends, queues and sends nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from authors.services import style_profile_save
from console.tests.factories import make_budget
from gateway.models import Trace
from gateway.selectors import budgets_with_spend
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows import events
from orchestrator.flows.definitions import DEFAULT_POST_FLOW, DEFAULT_VARIANTS_FLOW
from orchestrator.flows.dry_run import flow_dry_run
from orchestrator.flows.editing import flow_definition_save, flow_secret_set
from orchestrator.flows.engine import execute_run
from orchestrator.flows.steps import StepFailedError
from orchestrator.models import FlowRun, FlowSecret, StepRun, StepStatus
from orchestrator.tests.factories import make_author
from prompts.services import prompt_defaults_install
from reviews.models import Draft
from tenants.context import cross_tenant_access, tenant_scope
from testing.fake_crm import FakeCRM
from webhooks.delivery import verify

pytestmark = pytest.mark.django_db

SECRET = "crm-shared-secret-5f2a9c8e7d61"


@pytest.fixture(autouse=True)
def _fast_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


@pytest.fixture
def crm():
    with FakeCRM.start() as fake:
        yield fake


def crm_step(crm, **options) -> dict:
    return {
        "id": "crm",
        "type": "http",
        "url": f"{crm.url}/hooks/maestro",
        "headers": {"Authorization": "Bearer {secret}", "X-Api-Version": "2"},
        "secret": "crm",
        "sign": True,
        **options,
    }


def _start(tenant, steps: list[dict]) -> FlowRun:
    author = make_author(tenant=tenant)
    with tenant_scope(tenant):
        flow_secret_set(name="crm", value=SECRET)
        definition = flow_definition_save(name="crm-push", steps=steps, activate=True)
        return FlowRun.objects.create(
            definition=definition, steps=definition.steps, author=author, brief="Week-one calls"
        )


def _everything_stored(tenant, run: FlowRun) -> str:
    """Every place a run leaves text: its row, its steps, its draft, traces, audit events, events."""
    with tenant_scope(tenant):
        rows = [
            list(FlowRun.objects.filter(pk=run.pk).values()),
            list(StepRun.objects.filter(run=run).values()),
            list(Draft.objects.filter(run=run).values()),
            list(Trace.objects.values()),
            list(AuditEvent.objects.values()),
        ]
    return json.dumps(rows, default=str) + json.dumps(events.read(run.pk), default=str)


def test_the_http_step_sends_the_headers_and_a_signature_the_crm_verifies(tenant_a, crm, caplog):
    caplog.set_level(logging.DEBUG)
    crm.echo_header("authorization")  # a CRM that reflects the credential back in its answer
    polish = {"id": "note", "type": "transform", "target": "crm", "ops": ["trim"]}
    run = _start(tenant_a, [crm_step(crm), polish])
    before = time.time()
    with tenant_scope(tenant_a):
        execute_run(FlowRun.objects.get(pk=run.pk))
    [request] = crm.received()
    assert (request.method, request.path) == ("POST", "/hooks/maestro")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["x-api-version"] == "2"
    assert request.headers["content-type"] == "application/json"
    signature = request.headers["x-maestro-signature"]
    assert verify(secret=SECRET, body=request.body.decode(), header=signature)
    assert not verify(secret="another-secret", body=request.body.decode(), header=signature)
    assert not verify(secret=SECRET, body=request.body.decode() + " ", header=signature)
    timestamp = int(signature.split(",")[0].removeprefix("t="))
    assert before - 1 <= timestamp <= time.time() + 1
    # What docs/flows-and-reviews.md tells a receiver to compute, over the raw bytes it received.
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert signature == f"t={timestamp},v1={expected}"
    assert json.loads(request.body) == {
        "author": "Ana Souza",
        "brief": "Week-one calls",
        "run": run.pk,
        "text": "",
    }
    with tenant_scope(tenant_a):
        step = StepRun.objects.get(run=run, key="crm")
    assert step.status == StepStatus.SUCCEEDED
    assert step.output["response"] == {"ok": True, "echo": "Bearer [secret]"}  # scrubbed before storing
    stored = _everything_stored(tenant_a, run)
    assert SECRET not in stored
    assert SECRET not in caplog.text


def test_a_rotated_secret_signs_the_next_run_and_the_old_one_no_longer_verifies(tenant_a, crm):
    run = _start(tenant_a, [crm_step(crm, headers={})])
    with tenant_scope(tenant_a):
        flow_secret_set(name="crm", value="rotated-secret-0987654321")
        execute_run(FlowRun.objects.get(pk=run.pk))
    [request] = crm.received()
    header = request.headers["x-maestro-signature"]
    assert verify(secret="rotated-secret-0987654321", body=request.body.decode(), header=header)
    assert not verify(secret=SECRET, body=request.body.decode(), header=header)
    assert "authorization" not in request.headers


def test_a_step_whose_secret_was_deleted_fails_without_sending(tenant_a, crm):
    run = _start(tenant_a, [crm_step(crm)])
    with tenant_scope(tenant_a):
        FlowSecret.objects.all().delete()
        with pytest.raises(StepFailedError, match="the secret 'crm' is not set"):
            execute_run(FlowRun.objects.get(pk=run.pk))
    assert crm.received() == []


# ---- dry run ----------------------------------------------------------------------------------


@pytest.fixture
def writer_setup(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts"):
        prompt_defaults_install()
    author = make_author(tenant=tenant_a)
    with tenant_scope(tenant_a):
        style_profile_save(
            author=author, created_by=None, tone="Direct, warm", banned_phrases=["game-changer"]
        )
    return author


def _counts(tenant) -> dict:
    with tenant_scope(tenant):
        return {
            "runs": FlowRun.objects.count(),
            "steps": StepRun.objects.count(),
            "drafts": Draft.objects.count(),
            "traces": Trace.objects.count(),
            "spend": [(b.spent_micros, b.reserved_micros) for b in budgets_with_spend()],
        }


def test_a_dry_run_shows_each_step_and_spends_queues_and_sends_nothing(
    tenant_a, writer_setup, fake_provider, crm
):
    make_budget(tenant=tenant_a, scope="tenant")
    with tenant_scope(tenant_a):
        flow_secret_set(name="crm", value=SECRET)
        definition = flow_definition_save(name="custom", steps=[*DEFAULT_POST_FLOW, crm_step(crm)])
    before = _counts(tenant_a)
    with tenant_scope(tenant_a):
        result = flow_dry_run(definition=definition, author=writer_setup, brief="Why we call in week one")
    assert _counts(tenant_a) == before
    assert fake_provider.requests() == []
    assert crm.received() == []
    assert [s.id for s in result.steps] == ["memories", "draft", "review", "polish", "crm"]
    assert result.problems == []
    draft = result.steps[1]
    [call] = draft.calls
    assert (call.model, call.tier) == ("standard-a", "standard")
    assert "Why we call in week one" in json.dumps(call.messages)
    assert call.max_cost_micros > 0
    review = result.steps[2]
    assert [(c.purpose, c.times) for c in review.calls] == [("critique", 3), ("revise", 2)]
    assert review.calls[0].model == "small-a"
    assert result.max_calls == 1 + 3 + 2
    request = result.steps[4].request
    assert request["headers"]["Authorization"] == f"Bearer [secret crm: crm…{SECRET[-4:]}]"
    assert "HMAC-SHA256" in request["headers"]["X-Maestro-Signature"]
    # polish trims what review wrote: the placeholder passes through the transform
    assert json.loads(request["body"])["text"] == "[dry run: the text step 'review' would write]"
    assert SECRET not in json.dumps(result.as_dict())


def test_a_dry_run_reports_a_step_that_would_fail_and_goes_on(tenant_a, writer_setup):
    steps = [{"id": "draft", "type": "generate", "prompt": "comment"}, {"id": "t", "type": "transform"}]
    with tenant_scope(tenant_a):
        definition = flow_definition_save(name="custom", steps=steps)
        result = flow_dry_run(definition=definition, author=writer_setup, brief="Week-one calls")
    assert [s.id for s in result.steps] == ["draft", "t"]
    # The comment prompt needs the post it comments on: a run of this flow would fail at its first step.
    assert result.problems == [
        "draft: prompt 'comment': Prompt comment/default v1: missing required variable(s): original_post"
    ]


def test_a_dry_run_needs_a_brief(tenant_a, writer_setup):
    with tenant_scope(tenant_a):
        definition = flow_definition_save(name="custom", steps=DEFAULT_POST_FLOW)
        with pytest.raises(ValidationError, match="Say what the post is about"):
            flow_dry_run(definition=definition, author=writer_setup, brief="  ")


def test_a_dry_run_of_fanout_and_branch_counts_every_call_and_follows_every_step(tenant_a, writer_setup):
    steps = [
        *DEFAULT_VARIANTS_FLOW[:2],
        {"id": "check", "type": "critique", "target": "variants"},
        {"id": "skip", "type": "branch", "if": "check.score>=8", "goto": "polish"},
        *DEFAULT_VARIANTS_FLOW[2:],
    ]
    with tenant_scope(tenant_a):
        definition = flow_definition_save(name="custom", steps=steps)
        result = flow_dry_run(definition=definition, author=writer_setup, brief="Week-one calls")
    assert [s.id for s in result.steps] == ["memories", "variants", "check", "skip", "review", "polish"]
    assert [(c.purpose, c.times) for c in result.steps[1].calls] == [("post", 3), ("critique", 3)]
    assert "skips ahead to 'polish'" in result.steps[3].summary
    assert result.max_calls == 3 + 3 + 1 + (1 + 1) + 1  # variants, ranks, check, review (1 round)
    assert result.problems == []
