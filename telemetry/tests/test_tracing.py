"""OpenTelemetry spans: the tree from an HTTP request through the Celery task and each flow step to
every gateway attempt, exported to an in-memory exporter; and when the OTEL_* variables turn it on."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from asgiref.sync import SyncToAsync
from celery import signals
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.urls import reverse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from authors.models import Author
from authors.services import style_profile_save
from common.redis import redis_client
from gateway import loop as gateway_loop_module
from gateway.models import Trace
from gateway.tests.gateway_support import register_fake_models
from orchestrator import queueing
from orchestrator.flows.services import flow_definitions_install
from orchestrator.models import FlowRun, RunStatus
from orchestrator.tasks import run_flow
from prompts.services import prompt_defaults_install
from telemetry import tracing
from tenants.context import cross_tenant_access, tenant_scope
from tenants.models import Role
from testing.fake_server import Behaviour

PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})


@pytest.fixture
def exported():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.install(None)
    provider.shutdown()


@pytest.fixture
def published(settings):
    """The task messages the request publishes, as the broker got them; the queue is emptied after."""
    messages: list[dict] = []

    def capture(headers=None, body=None, **_kwargs):
        messages.append({"headers": dict(headers or {}), "args": body[0]})

    signals.before_task_publish.connect(capture, weak=False)
    yield messages
    signals.before_task_publish.disconnect(capture)
    client = redis_client(url=settings.CELERY_BROKER_URL)
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    client.close()


@pytest.fixture
def gateway_loop():
    """The flow's calls run on the process-wide gateway loop, which reaches the database through
    asgiref's single sync thread: stop the loop and close that thread's connections afterwards, or
    the test database could not be dropped."""
    yield
    gateway_loop_module.shutdown()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_flow_run_exports_the_span_tree_from_request_to_attempt(
    client_for, members_a, tenant_a, fake_provider, exported, published, gateway_loop
):
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    with tenant_scope(tenant_a):
        author = Author.objects.create(name="Ana Souza", headline="CEO at Acme", language="en")
        style_profile_save(author=author, created_by=None, tone="Direct", banned_phrases=[])
    fake_provider.set_behaviour(
        Behaviour(text="Three onboarding calls cut churn by 20%."), model="fake-standard"
    )
    fake_provider.set_behaviour(Behaviour(text=PASS), model="fake-small")

    response = client_for(members_a[Role.WRITER]).post(
        reverse("orchestrator:flow_new", kwargs={"tenant_slug": tenant_a.slug}),
        {"author": author.pk, "flow": "post", "brief": "Why we call every new customer in week one"},
    )
    assert response.status_code == 302
    [message] = [m for m in published if m["headers"].get("task") == queueing.RUN_FLOW]
    assert message["headers"]["traceparent"]  # the request's trace went out with the task
    # What the worker does with that message, in this process, where the exporter is.
    run_flow.apply(args=message["args"], headers=message["headers"], task_id=message["headers"]["id"])
    with tenant_scope(tenant_a):
        assert FlowRun.objects.get(pk=message["args"][1]).status == RunStatus.SUCCEEDED

    spans = exported.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}

    def parent_of(span):
        return by_id.get(span.parent.span_id) if span.parent else None

    [request] = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST ")]
    assert request.name == "POST /t/<slug:tenant_slug>/work/new/"
    assert request.attributes["http.response.status_code"] == 302
    assert request.attributes["maestro.tenant"] == tenant_a.slug
    [task] = [s for s in spans if s.name == f"task {queueing.RUN_FLOW}"]
    assert parent_of(task) is request
    steps = {s.attributes["maestro.step"]: s for s in spans if s.name.startswith("step ")}
    assert {"draft", "polish"} <= set(steps)
    assert all(parent_of(step) is task for step in steps.values())
    calls = [s for s in spans if s.name.startswith("gateway ")]
    assert calls
    assert all(parent_of(call) in steps.values() for call in calls)
    [draft_call] = [c for c in calls if parent_of(c) is steps["draft"]]
    attributes = draft_call.attributes
    assert attributes["maestro.tenant"] == tenant_a.slug
    assert attributes["maestro.purpose"] == "post"
    assert attributes["gen_ai.response.model"] == "standard-a"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["maestro.cost"] > 0
    gateway_loop_module.shutdown()  # the loop writes traces in the background: drain it first
    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=attributes["maestro.call_id"])
    assert trace.prompt_version_id  # the prompt version the draft was rendered from: on the trace
    assert attributes["maestro.prompt_version_id"] == trace.prompt_version_id  # and on the span
    [attempt] = [s for s in spans if parent_of(s) is draft_call]
    assert attempt.name == "attempt standard-a"
    assert attempt.attributes["maestro.outcome"] == "ok"
    assert draft_call.start_time <= attempt.start_time <= attempt.end_time <= draft_call.end_time
    assert len({s.context.trace_id for s in spans}) == 1  # one trace, from the request on


def test_traces_are_off_unless_the_otel_variables_ask():
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}
    )
    assert tracing.configure({}) is None


def test_an_exporter_maestro_cannot_use_is_refused_with_what_to_set():
    with pytest.raises(ImproperlyConfigured, match="OTLP/HTTP only"):
        tracing.configure(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        )


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector on loopback that keeps what it is sent."""

    received: list[tuple[str, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_otel_variables_send_spans_over_otlp_http(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "maestro-test")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
    provider = tracing.configure()
    assert provider is not None
    try:
        with tracing.span("probe", {"maestro.tenant": "tenant-a"}):
            pass
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        tracing.install(None)
        provider.shutdown()
    [(path, body)] = _Collector.received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "maestro-test"
    assert resource["deployment.environment"] == "ci"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "probe"
    assert {a.key: a.value.string_value for a in span.attributes} == {"maestro.tenant": "tenant-a"}
