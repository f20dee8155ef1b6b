"""Starting flows from the browser, the run page, and its Server-Sent Events (real Redis streams)."""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings
from django.urls import reverse

from orchestrator import views
from orchestrator.flows import events
from orchestrator.models import FlowRun, RunStatus, StepRun, StepStatus
from orchestrator.tests.factories import make_author, make_definition, make_run
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def url(name: str, tenant, **kwargs) -> str:
    return reverse(f"orchestrator:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


def _take_queued_tasks() -> list[dict]:
    """Pop this test run's messages off its Celery queue in Redis: (task name, args) of each."""
    client = events._client()
    taken = []
    while (raw := client.rpop(settings.CELERY_TASK_DEFAULT_QUEUE)) is not None:
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        taken.append({"task": message["headers"]["task"], "args": args})
    return taken


@pytest.fixture
def queue():
    _take_queued_tasks()
    yield
    _take_queued_tasks()


@pytest.fixture
def author_a(tenant_a):
    make_definition(tenant=tenant_a)
    return make_author(tenant=tenant_a)


# ---- start a flow ----------------------------------------------------------------------


def test_the_new_draft_page_offers_the_tenants_authors_and_flows(client_for, members_a, tenant_a, author_a):
    response = client_for(members_a[Role.WRITER]).get(url("flow_new", tenant_a))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="brief"' in page
    assert author_a.name in page
    assert 'value="post"' in page


def test_starting_a_flow_queues_a_run_and_its_task_and_shows_the_run(
    client_for, members_a, tenant_a, author_a, queue, django_capture_on_commit_callbacks
):
    client = client_for(members_a[Role.WRITER])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("flow_new", tenant_a), {"author": author_a.pk, "flow": "post", "brief": "Week-one calls"}
        )
    with tenant_scope(tenant_a):
        run = FlowRun.objects.get()
    assert response.status_code == 302
    assert response.url == url("run", tenant_a, run_id=run.pk)
    assert (run.status, run.brief, run.created_by) == (
        RunStatus.QUEUED,
        "Week-one calls",
        members_a[Role.WRITER].user,
    )
    assert _take_queued_tasks() == [{"task": "orchestrator.tasks.run_flow", "args": [tenant_a.pk, run.pk]}]
    page = client.get(response.url).content.decode()
    assert "Waiting for a worker" in page
    assert "data-events-url" in page


def test_a_flow_with_bad_input_shows_the_form_again_with_nothing_lost(
    client_for, members_a, tenant_a, author_a
):
    response = client_for(members_a[Role.WRITER]).post(
        url("flow_new", tenant_a), {"author": "", "flow": "post", "brief": "My careful brief"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "My careful brief" in page
    assert "This field is required" in page
    with tenant_scope(tenant_a):
        assert not FlowRun.objects.exists()


def test_an_archived_author_or_another_tenants_author_cannot_be_chosen(
    client_for, members_a, tenant_a, tenant_b, author_a
):
    foreign = make_author(tenant=tenant_b, name="Someone Else")
    response = client_for(members_a[Role.WRITER]).post(
        url("flow_new", tenant_a), {"author": foreign.pk, "flow": "post", "brief": "A brief"}
    )
    assert response.status_code == 200
    assert "Someone Else" not in response.content.decode()
    with tenant_scope(tenant_a):
        assert not FlowRun.objects.exists()


def test_a_viewer_cannot_start_flows(client_for, members_a, tenant_a, author_a):
    client = client_for(members_a[Role.VIEWER])
    assert client.get(url("flow_new", tenant_a)).status_code == 403
    assert client.post(url("flow_new", tenant_a), {"author": author_a.pk, "brief": "x"}).status_code == 403


# ---- the run page ----------------------------------------------------------------------


def test_the_run_page_shows_each_step_with_status_timing_cost_and_traces(client_for, members_a, tenant_a):
    run = make_run(tenant=tenant_a, status=RunStatus.RUNNING)
    trace_id = "0b7e2b4e-7a7f-4b36-9f3a-2d2c5b0e9a11"
    with tenant_scope(tenant_a):
        done = StepRun.objects.create(
            run=run, key="draft", step_type="generate", status=StepStatus.SUCCEEDED, position=1,
            output={"text": "Three calls"}, call_ids=[trace_id], cost_micros=1234,
        )  # fmt: skip
        StepRun.objects.filter(pk=done.pk).update(finished_at=done.started_at)
        StepRun.objects.create(run=run, key="review.critique.0", step_type="critique", position=2)
    staff = members_a[Role.WRITER]
    staff.user.is_staff = True
    staff.user.save(update_fields=["is_staff"])
    page = client_for(staff).get(url("run", tenant_a, run_id=run.pk)).content.decode()
    assert 'id="step-draft"' in page
    assert 'id="step-reviewcritique0"' in page
    assert "Succeeded" in page
    assert "Running" in page
    assert "0.001234" in page
    assert "0 ms" in page
    assert reverse("admin:gateway_trace_change", args=[trace_id]) in page
    steps_only = (
        client_for(staff).get(url("run", tenant_a, run_id=run.pk), {"part": "steps"}).content.decode()
    )
    assert "<html" not in steps_only
    assert 'id="steps-table"' in steps_only


def test_a_failed_run_says_why_in_the_browser(client_for, members_a, tenant_a):
    run = make_run(tenant=tenant_a, status=RunStatus.FAILED, error="provider_rejected: bad request")
    page = client_for(members_a[Role.VIEWER]).get(url("run", tenant_a, run_id=run.pk)).content.decode()
    assert 'id="run-error"' in page
    assert "provider_rejected: bad request" in page
    assert "data-events-url" not in page  # nothing left to watch


# ---- Server-Sent Events ------------------------------------------------------------------------------------


def _frames(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    frames = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "event" in fields:
            frames.append(
                {"id": fields.get("id"), "event": fields["event"], "data": json.loads(fields["data"])}
            )
    return frames


@pytest.fixture
def live_run(tenant_a):
    run = make_run(tenant=tenant_a, status=RunStatus.RUNNING)
    events._client().delete(events.stream_key(run.pk))
    yield run
    events._client().delete(events.stream_key(run.pk))


def _publish_a_whole_run(run_id: int) -> None:
    events.publish(run_id, "run", status="running")
    events.publish(run_id, "step", key="draft", type="generate", status="running")
    events.publish(run_id, "delta", step="draft", text="Three ")
    events.publish(run_id, "restart", step="draft", text="fallback to fake-small")
    events.publish(run_id, "delta", step="draft", text="calls.")
    events.publish(run_id, "step", key="draft", type="generate", status="succeeded", text="calls.")
    events.publish(run_id, "run", status="succeeded", draft=7)


def test_the_event_stream_sends_each_event_and_ends_after_the_runs_final_event(
    client_for, members_a, tenant_a, live_run
):
    _publish_a_whole_run(live_run.pk)
    events.publish(live_run.pk, "delta", step="late", text="never sent")
    response = client_for(members_a[Role.VIEWER]).get(url("run_events", tenant_a, run_id=live_run.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert (response["Cache-Control"], response["X-Accel-Buffering"]) == ("no-cache", "no")
    frames = _frames(response)
    assert [f["event"] for f in frames] == ["run", "step", "delta", "restart", "delta", "step", "run"]
    assert frames[-1]["data"] == {"status": "succeeded", "draft": 7}
    assert all(f["id"] for f in frames)


def test_a_reconnecting_browser_gets_only_what_it_missed(client_for, members_a, tenant_a, live_run):
    _publish_a_whole_run(live_run.pk)
    client = client_for(members_a[Role.WRITER])
    first = _frames(client.get(url("run_events", tenant_a, run_id=live_run.pk)))
    resumed = _frames(
        client.get(url("run_events", tenant_a, run_id=live_run.pk), HTTP_LAST_EVENT_ID=first[3]["id"])
    )
    assert resumed == first[4:]


def test_a_watcher_gets_heartbeats_while_nothing_happens(
    client_for, members_a, tenant_a, live_run, monkeypatch
):
    monkeypatch.setattr(views, "SSE_BLOCK_MS", 50)
    monkeypatch.setattr(views, "SSE_MAX_SECONDS", 0.3)  # then the browser reconnects with Last-Event-ID
    response = client_for(members_a[Role.WRITER]).get(url("run_events", tenant_a, run_id=live_run.pk))
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("retry: ")
    assert ": keep-alive" in body
    assert "event:" not in body


def test_a_finished_run_whose_stream_expired_still_says_how_it_ended(
    client_for, members_a, tenant_a, live_run
):
    with tenant_scope(tenant_a):
        FlowRun.objects.filter(pk=live_run.pk).update(status=RunStatus.FAILED, error="budget exhausted")
    frames = _frames(client_for(members_a[Role.WRITER]).get(url("run_events", tenant_a, run_id=live_run.pk)))
    assert frames == [
        {"id": None, "event": "run", "data": {"status": "failed", "error": "budget exhausted", "draft": None}}
    ]


def test_regenerate_starts_the_same_brief_afresh_for_writers_only(client_for, members_a, tenant_a, live_run):
    with tenant_scope(tenant_a):
        FlowRun.objects.filter(pk=live_run.pk).update(status=RunStatus.SUCCEEDED)
    regenerate = url("run_regenerate", tenant_a, run_id=live_run.pk)
    page = client_for(members_a[Role.WRITER]).get(url("run", tenant_a, run_id=live_run.pk))
    assert regenerate in page.content.decode()
    assert client_for(members_a[Role.VIEWER]).post(regenerate).status_code == 403
    response = client_for(members_a[Role.WRITER]).post(regenerate)
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        run = FlowRun.objects.exclude(pk=live_run.pk).get()
    assert response["Location"] == url("run", tenant_a, run_id=run.pk)
    assert (run.brief, run.author_id) == (live_run.brief, live_run.author_id)
    assert run.inputs.get("regenerate") is True
    assert run.created_by_id == members_a[Role.WRITER].user_id


def test_the_stream_of_a_run_that_needs_attention_ends_with_its_final_event(
    client_for, members_a, tenant_a, live_run
):
    events.publish(live_run.pk, "run", status="running")
    events.publish(live_run.pk, "run", status="needs_attention", draft=7)
    events.publish(live_run.pk, "delta", step="late", text="never sent")
    frames = _frames(client_for(members_a[Role.WRITER]).get(url("run_events", tenant_a, run_id=live_run.pk)))
    assert [f["data"]["status"] for f in frames] == ["running", "needs_attention"]


def test_a_run_that_needs_attention_is_shown_finished_with_its_reasons(
    client_for, members_a, tenant_a, live_run
):
    with tenant_scope(tenant_a):
        FlowRun.objects.filter(pk=live_run.pk).update(
            status=RunStatus.NEEDS_ATTENTION, attention=[{"step": "critique", "reason": "no usable verdict"}]
        )
    page = client_for(members_a[Role.WRITER]).get(url("run", tenant_a, run_id=live_run.pk))
    html = page.content.decode()
    assert "no usable verdict" in html
    assert "data-events-url" not in html  # finished: the page does not wait for more events


def test_the_event_stream_of_another_tenants_run_is_404(client_for, members_a, tenant_a, tenant_b):
    foreign = make_run(tenant=tenant_b)
    response = client_for(members_a[Role.ADMIN]).get(url("run_events", tenant_a, run_id=foreign.pk))
    assert response.status_code == 404


def test_the_demo_local_model_has_a_nominal_price_that_reseeding_keeps_as_the_admin_set_it():
    from decimal import Decimal

    from config import local_model
    from gateway.models import LLMModel
    from orchestrator import demo
    from tenants.context import cross_tenant_access

    with cross_tenant_access("tests: Maestro's shared demo model"):
        demo.seed_shared()
        model = LLMModel.objects.get(tenant=None, alias=demo.LOCAL_MODEL_ALIAS)
        assert (model.input_price_per_mtok, model.output_price_per_mtok) == (Decimal("0.50"), Decimal("1.50"))
        # As many calls at once as the server has slots; prompts shaped for a base model.
        assert (model.max_concurrency, model.prompt_format) == (local_model.PARALLEL_SLOTS, "document")
        LLMModel.objects.filter(pk=model.pk).update(output_price_per_mtok=Decimal("9.00"))
        demo.seed_shared()
        model.refresh_from_db()
    assert model.output_price_per_mtok == Decimal("9.00")
