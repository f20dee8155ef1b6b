"""Flows against a provider that misbehaves the way a small local model does: runaway length, prompt
text and labels in the answer, broken JSON, empty answers, busy slots. Real Celery workers, Redis,
PostgreSQL and HTTP to the fake provider."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from authors.models import Author
from authors.services import style_profile_save
from gateway.models import LLMModel, Trace
from gateway.tests.gateway_support import register_fake_models
from memories.services import memory_add
from orchestrator.flows.services import flow_definitions_install, flow_start
from orchestrator.models import FINISHED_STATUSES, FlowRun, RunStatus, StepRun
from orchestrator.tests.test_flows import wait_for
from prompts.services import prompt_defaults_install
from reviews.models import Draft, DraftState
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role
from testing.fake_server import Behaviour

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})
SAMPLE = (
    "Last week a customer told me our onboarding felt like homework. She was right. We cut it to three steps."
)


def sentences(count: int, start: int = 1) -> str:
    """Distinct sentences of 13 words each (a sentence said twice would be dropped as a loop)."""
    return " ".join(
        f"We called customer number {n} in their first week and it kept them."
        for n in range(start, start + count)
    )


DRAFT = sentences(4)  # 52 words, within the card's 40-80
RUNAWAY = (
    "Post: (key_phrase) "
    + sentences(8)  # 104 words: over the card's 80
    + "<start_of_image>\n\nPost:\n"
    + sentences(30, start=9)
    + " and then the model kept going without ever"
)


@pytest.fixture
def setup(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(
            author=author,
            created_by=None,
            tone="Direct, warm",
            formatting={"length": "40-80 words"},
            sample_posts=[SAMPLE, "I used to think more meetings meant more alignment. Then I counted them."],
        )
    return author


def _start(tenant, author, brief="Why we call every new customer in week one"):
    with tenant_scope(tenant):
        run, _ = flow_start(author=author, brief=brief)
    return run


def _finished(tenant, run) -> FlowRun:
    def done():
        with tenant_scope(tenant):
            found = FlowRun.objects.get(pk=run.pk)
        return found if found.status in FINISHED_STATUSES else None

    return wait_for(done, timeout=120)


def _draft(tenant, run) -> Draft:
    with tenant_scope(tenant):
        return Draft.objects.get(run=run)


def test_a_runaway_answer_from_a_base_model_becomes_a_draft_within_the_cards_length(
    tenant_a, setup, fake_provider, celery_worker_process, settings
):
    settings.MAESTRO_EMBEDDINGS = {"backend": "hashing"}  # as the test workers embed
    with tenant_scope(tenant_a):
        LLMModel.objects.filter(alias="standard-a").update(prompt_format="document")
        memory_add(author=setup, kind="key_phrase", text="Week one decides who stays")
    fake_provider.set_behaviour(Behaviour(text=RUNAWAY), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    celery_worker_process()
    run = _finished(tenant_a, _start(tenant_a, setup))
    assert run.status == RunStatus.SUCCEEDED, run.attention or run.error
    body = _draft(tenant_a, run).body
    assert 40 <= len(body.split()) <= 80  # the card says 40-80 words; the model wrote hundreds
    assert body.endswith("kept them.")  # whole sentences only
    assert "Post" not in body
    assert "(key_phrase)" not in body
    assert "<start_of_image>" not in body

    (generation,) = fake_provider.requests(model="fake-standard")
    assert generation.path == "/v1/completions"  # a base model continues a document
    prompt = generation.body["prompt"]
    assert SAMPLE in prompt  # the author's own posts, for voice and language
    assert prompt.rstrip().endswith(
        "Topic: Why we call every new customer in week one\nFacts: Week one decides who stays."
    )
    assert "(key_phrase)" not in prompt
    assert generation.body["max_tokens"] == 140  # 80 words x 1.4 tokens x 1.1, + 16
    assert "###" in generation.body["stop"]
    critique = fake_provider.requests(model="fake-small")[0]
    assert critique.body["response_format"]["json_schema"]["name"] == "verdict"


def test_a_broken_verdict_is_repaired_by_a_second_constrained_call(
    tenant_a, setup, fake_provider, celery_worker_process
):
    fake_provider.set_behaviour(Behaviour(text=DRAFT), model="fake-standard")
    fake_provider.enqueue(Behaviour(text='{"passes": tru'), Behaviour(text=PASS), model="fake-small")
    celery_worker_process()
    run = _finished(tenant_a, _start(tenant_a, setup))
    assert run.status == RunStatus.SUCCEEDED, run.attention
    with tenant_scope(tenant_a):
        critic = StepRun.objects.get(run=run, key="review.critique.0")
    assert critic.output["verdict"]["passes"] is True
    assert critic.output["repair"]["text"] == PASS
    assert len(critic.call_ids) == 2
    repair = fake_provider.requests(model="fake-small")[1]
    assert repair.body["response_format"]["type"] == "json_schema"
    assert any('{"passes": tru' in message["content"] for message in repair.body["messages"])


def test_a_verdict_that_stays_unusable_makes_the_run_need_attention_with_the_reason_shown(
    tenant_a, setup, fake_provider, celery_worker_process, client_for, members_a
):
    fake_provider.set_behaviour(Behaviour(text=DRAFT), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text="Looks great to me, ship it!"), model="fake-small")
    celery_worker_process()
    run = _finished(tenant_a, _start(tenant_a, setup))
    assert run.status == RunStatus.NEEDS_ATTENTION
    (item,) = run.attention
    assert item["step"] == "review.critique.0"
    assert "not a usable verdict" in item["reason"]
    assert "Looks great to me" in item["reason"]  # what the critic said instead
    draft = _draft(tenant_a, run)
    assert draft.state == DraftState.READY  # the writer still gets the draft

    client = client_for(members_a[Role.WRITER])
    run_url = reverse("orchestrator:run", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    run_page = client.get(run_url).content.decode()
    assert "Needs attention" in run_page
    assert "not a usable verdict" in run_page
    assert "data-events-url" not in run_page  # finished: no live stream to wait on
    queue = client.get(reverse("orchestrator:drafts", kwargs={"tenant_slug": tenant_a.slug})).content.decode()
    assert re.search(r"Needs attention: The critic(?:'|&#x27;)s answer was not a usable verdict", queue)


def test_an_empty_answer_is_asked_for_again_and_a_second_one_needs_attention(
    tenant_a, setup, fake_provider, celery_worker_process
):
    fake_provider.enqueue(Behaviour(text="Post:"), Behaviour(text="<end_of_turn>"), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    celery_worker_process()
    run = _finished(tenant_a, _start(tenant_a, setup))
    assert run.status == RunStatus.NEEDS_ATTENTION
    assert any("no usable text" in item["reason"] for item in run.attention)
    with tenant_scope(tenant_a):
        draft_step = StepRun.objects.get(run=run, key="draft")
    assert draft_step.output["finishing"]["retried"] is True
    assert len(fake_provider.requests(model="fake-standard")) >= 2


def test_a_draft_in_another_language_than_the_authors_needs_attention(
    tenant_a, setup, fake_provider, celery_worker_process
):
    with tenant_scope(tenant_a):
        Author.objects.filter(pk=setup.pk).update(language="pt-BR")
    fake_provider.set_behaviour(Behaviour(text=DRAFT), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")
    celery_worker_process()
    with tenant_scope(tenant_a):
        author = Author.objects.get(pk=setup.pk)
    run = _finished(tenant_a, _start(tenant_a, author))
    assert run.status == RunStatus.NEEDS_ATTENTION
    assert any("in English" in item["reason"] for item in run.attention)


def test_concurrent_flows_queue_for_the_models_slots_and_all_succeed(
    tenant_a, setup, fake_provider, celery_worker_process
):
    """Each model serves one call at a time (like a llama.cpp server with one slot) and an answer
    takes about two seconds: without a limit in the gateway the fourth call waits in the server past
    its first-token timeout (at least 5 s). With each model's concurrency set to 1 they queue."""
    with tenant_scope(tenant_a):
        LLMModel.objects.filter(alias__in=["standard-a", "small-a"]).update(max_concurrency=1)
    for model in ("fake-standard", "fake-small"):
        fake_provider.set_slots(1, model=model)
    fake_provider.set_behaviour(Behaviour(text=DRAFT, tokens_per_second=26), model="fake-standard")
    fake_provider.set_behaviour(Behaviour(text=PASS, tokens_per_second=4), model="fake-small")
    celery_worker_process(concurrency=8)
    runs = [_start(tenant_a, setup, brief=f"Lesson {n} from our onboarding calls") for n in range(5)]
    finished = [_finished(tenant_a, run) for run in runs]
    assert [run.status for run in finished] == [RunStatus.SUCCEEDED] * 5
    with tenant_scope(tenant_a):
        attempts = [
            a for trace in Trace.objects.filter(flow_run_id__in=[r.pk for r in runs]) for a in trace.attempts
        ]
        retried_steps = StepRun.objects.filter(run__in=runs, attempts__gt=1).count()
    assert {a["status"] for a in attempts} == {"ok"}  # not one first-token timeout
    assert max(a["queued_s"] for a in attempts) > 2  # they did wait, in the gateway
    assert retried_steps == 0
    peak = fake_provider.concurrency()["peak"]
    assert (peak["fake-standard"], peak["fake-small"]) == (1, 1)
