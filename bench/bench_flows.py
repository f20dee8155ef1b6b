"""Flows per minute for ONE worker process (threads pool), with the fake provider answering every
model call after 2 seconds; and how long a finished step takes to reach a reader of the run's
event stream (what the browser's SSE connection reads).

    python bench/bench_flows.py [--flows 200] [--concurrency 150] [--latency 2.0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
import uuid
from decimal import Decimal

import _env

_env.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402

from authors.models import Author  # noqa: E402
from config.workers import worker_command  # noqa: E402
from gateway.models import LLMModel, ProviderEndpoint, TenantPolicy  # noqa: E402
from orchestrator.flows import events  # noqa: E402
from orchestrator.flows.services import flow_definitions_install, flow_start  # noqa: E402
from orchestrator.models import FlowRun, RunStatus, StepRun  # noqa: E402
from prompts.services import prompt_defaults_install  # noqa: E402
from tenants.context import cross_tenant_access, tenant_scope  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from testing.fake_provider import FakeProvider  # noqa: E402
from testing.fake_server import Behaviour  # noqa: E402

PASS = json.dumps({"passes": True, "score": 8, "issues": [], "suggestions": []})


def setup_tenant(base_url: str) -> tuple[Tenant, Author]:
    with cross_tenant_access("bench: shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    tenant = Tenant.objects.create(name="bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
    with tenant_scope(tenant):
        provider = ProviderEndpoint.objects.create(name="fake", kind="openai", base_url=base_url)
        for tier in ("small", "standard", "premium"):
            LLMModel.objects.create(
                provider=provider,
                alias=f"{tier}-fake",
                model_name=f"fake-{tier}",
                tier=tier,
                input_price_per_mtok=Decimal(1),
                output_price_per_mtok=Decimal(2),
                context_window=32000,
                max_output_tokens=2048,
            )
        TenantPolicy.objects.create(tenant=tenant, tokens_per_minute=0, requests_per_minute=0)
        author = Author.objects.create(name="Bench Author")
    return tenant, author


def start_worker(concurrency: int, queue: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
        "CELERY_QUEUE": queue,
        "MAESTRO_EMBEDDINGS_BACKEND": "hashing",
        "LOG_LEVEL": "WARNING",
    }
    argv = worker_command(concurrency=concurrency, queue=queue, loglevel="WARNING")
    return subprocess.Popen(argv, cwd=_env.ROOT, env=env)  # noqa: S603


def watch(run_ids: list[int], delays: list[float], stop: threading.Event) -> None:
    """Block on the sampled runs' streams as SSE connections do (XREAD BLOCK); for each finished
    step, time from its end (the entry's server timestamp) to the moment this reader has it."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    cursors = {events.stream_key(run_id): "$" for run_id in run_ids}
    while not stop.is_set():
        for key, entries in client.xread(cursors, block=500) or []:
            for event_id, fields in entries:
                cursors[key.decode()] = event_id
                data = json.loads(fields[b"data"])
                if fields[b"kind"] == b"step" and data.get("status") == "succeeded":
                    delays.append(time.time() * 1000 - int(event_id.decode().split("-")[0]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=150)
    parser.add_argument("--latency", type=float, default=2.0)
    args = parser.parse_args()
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    with FakeProvider.start(in_subprocess=True) as fake:
        fake.set_behaviour(Behaviour(first_token_delay=args.latency, output_tokens=60), model="fake-standard")
        fake.set_behaviour(Behaviour(headers_delay=args.latency, text=PASS), model="fake-small")
        tenant, author = setup_tenant(fake.base_url)
        worker = start_worker(args.concurrency, queue)
        time.sleep(6)  # worker start
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        from config.celery import app

        app.conf.task_default_queue = queue
        with tenant_scope(tenant), transaction.atomic():  # queued together, released on commit
            runs = [
                flow_start(author=author, brief=f"Brief {i} about onboarding")[0] for i in range(args.flows)
            ]
            delays: list[float] = []
            stop = threading.Event()
            sample = [run.pk for run in runs[:: max(1, args.flows // 40)]]
            reader = threading.Thread(target=watch, args=(sample, delays, stop), daemon=True)
            reader.start()
            time.sleep(0.5)  # the reader blocks on the streams before any step can finish
            started = time.perf_counter()
        peak = 0
        while True:
            with tenant_scope(tenant):
                counts = {
                    status: FlowRun.objects.filter(status=status).count()
                    for status in (RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED)
                }
            peak = max(peak, counts[RunStatus.RUNNING])
            if counts[RunStatus.SUCCEEDED] + counts[RunStatus.FAILED] >= args.flows:
                break
            if time.perf_counter() - started > 600:
                print("gave up after 600 s", counts)
                break
            time.sleep(0.25)
        wall = time.perf_counter() - started
        stop.set()
        worker.terminate()
        worker.wait(30)
        with tenant_scope(tenant):
            calls = (
                StepRun.objects.filter(run__in=runs).exclude(step_type__in=["retrieve", "transform"]).count()
            )
    per_flow_floor = calls / args.flows * args.latency
    print(
        f"\nFlows on one worker process (threads pool, concurrency {args.concurrency}), "
        f"provider latency {args.latency:.1f} s per call"
    )
    print(
        f"   {args.flows} flows: succeeded {counts[RunStatus.SUCCEEDED]}, failed {counts[RunStatus.FAILED]}, "
        f"wall {wall:.1f} s, peak in flight {peak}"
    )
    print(
        f"   throughput {args.flows / wall * 60:.0f} flows/minute; each flow makes {calls / args.flows:.1f} "
        f"sequential model calls = {per_flow_floor:.1f} s of provider latency"
    )
    if delays:
        print(f"   step end -> stream reader (ms): {_env.summary(delays)}   (goal: under 1,000)")


if __name__ == "__main__":
    main()
