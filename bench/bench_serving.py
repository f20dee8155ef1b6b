"""Serving over HTTP, side by side in one run: the fake upstream called directly with httpx, Maestro's
/v1 through its production server (uvicorn, as `make run` starts it), and LiteLLM's proxy.

    python bench/bench_serving.py [--seconds 3] [--rounds 2] [--resets 320] [--calls 300] [--workers 2]

Every target answers the same request from the same fake upstream (testing/fake_server.py, its own
process). Blocks of each target are interleaved (direct, Maestro, LiteLLM, then again), at 1, 16 and
64 concurrent clients, non-streaming and streaming; "added" is a target's latency percentile minus
the direct call's at the same concurrency. Maestro runs a tenant budget, the tenant's and the key's
limits, routing and a trace per call; LiteLLM's proxy runs none of that (no database, no budgets).
Then 320 clients at once, each on its own connection, counting connection resets; Redis bytes a
call leaves; and the in-process overhead of `gateway.complete` with the cache off.

LiteLLM is installed on first use into .data/litellm-venv (`pip install 'litellm[proxy]==1.108.7'`,
about 2 minutes); offline it needs LITELLM_LOCAL_MODEL_COST_MAP=True. One worker, as its docs advise.
With `--workers N` both servers are measured again with N worker processes each (Maestro's guidance is
one per core, docs/serving.md), in the same interleaved blocks; the ratios are printed like for like
and for Maestro at N workers against LiteLLM at one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import _env

_env.setup("maestro_bench_serving")

import bench_gateway  # noqa: E402  (after _env.setup: it reuses this run's database)
import httpx  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from api.services import api_key_create  # noqa: E402
from config.launcher import web_command  # noqa: E402
from gateway.catalog import forget_catalog  # noqa: E402
from gateway.models import Budget, TenantPolicy  # noqa: E402
from tenants.context import tenant_scope  # noqa: E402
from testing.fake_provider import FakeProvider  # noqa: E402

ROOT = _env.ROOT
LITELLM_VERSION = "1.108.7"
LITELLM_VENV = ROOT / ".data" / "litellm-venv"
MODEL = "fake-standard"  # the upstream's model; Maestro's alias for it is bench-standard
PROMPT = bench_gateway.PROMPT
CONCURRENCY = (1, 16, 64)
TLS = ssl.create_default_context()  # loaded once: 320 clients would each load the CA bundle (~0.1 s)
RESET_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


@dataclass
class Target:
    name: str
    url: str  # POST here
    headers: dict[str, str]
    model: str
    pid: int | None = None  # whose RSS to report
    workers: int = 1  # server processes (uvicorn's --workers, LiteLLM's --num_workers)
    rss_mb: float = 0.0
    results: dict[tuple[bool, int], list[tuple[list[float], float]]] = field(default_factory=dict)
    cpu_seconds: dict[tuple[bool, int], float] = field(default_factory=dict)  # the server's, per setting

    def body(self, stream: bool) -> dict:
        body = {"model": self.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}
        if stream:
            body["stream"] = True
        return body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return pids


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its children (uvicorn workers, LiteLLM's)."""
    if pid is None:
        return 0.0
    total = 0
    for one in _process_tree(pid):
        stat = Path(f"/proc/{one}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | None) -> float:
    """Resident memory of a process and its children (uvicorn workers, LiteLLM's), in MB."""
    if pid is None:
        return 0.0
    total = 0
    for one in _process_tree(pid):
        status = Path(f"/proc/{one}/status")
        if status.exists():
            line = next((x for x in status.read_text().splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
            total += int(line.split()[1])
    return total / 1024


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float, headers: dict) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


# ---- the three targets ------------------------------------------------------------------------------


GRANIAN_LIB = ROOT / ".data" / "granian-lib"  # `pip install --target .data/granian-lib granian==2.8.7`


def granian_command(port: int) -> list[str]:
    """Granian serving the same application, for `--servers` (not a dependency of Maestro)."""
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
    return [*command, "--port", str(port), "--workers", "1", "--loop", "uvloop", "config.asgi:application"]


def start_maestro(
    fake: FakeProvider, *, server: str = "uvicorn", workers: int = 1
) -> tuple[Target, subprocess.Popen, object]:
    tenant = bench_gateway.make_tenant(fake.base_url, f"bench-serving-{uuid.uuid4().hex[:6]}")
    with tenant_scope(tenant):
        # Budgets and limits on: every call reserves and settles in Redis and takes from the tenant's
        # and the key's token buckets (limits no run reaches).
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(100_000))
        TenantPolicy.objects.filter(tenant=tenant).update(
            tokens_per_minute=1_000_000_000, requests_per_minute=10_000_000
        )
        created = api_key_create(
            name="bench",
            scopes=["generate", "read"],
            created_by=None,
            requests_per_minute=10_000_000,
            tokens_per_minute=1_000_000_000,
        )
    forget_catalog()
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "LOG_LEVEL": "WARNING",
    }
    if server == "granian":
        env["PYTHONPATH"] = str(GRANIAN_LIB)
        command = granian_command(port)
    else:
        command = web_command(port=port, access_log=False, python=sys.executable, workers=workers)
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - fixed command lines
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {created.token}"}
    _wait_until_up(f"{url}/v1/models", process, 60, headers)
    name = "Maestro /v1" if server == "uvicorn" else f"Maestro {server}"
    if workers > 1:
        name += f" x{workers}"
    target = Target(
        name, f"{url}/v1/chat/completions", headers, "bench-standard", process.pid, workers=workers
    )
    return target, process, tenant


def _litellm() -> Path:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        print(f"Installing LiteLLM {LITELLM_VERSION} into {LITELLM_VENV} (about 2 minutes, once)...")
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)  # noqa: S603
        pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"]
        subprocess.run(pip, check=True)  # noqa: S603 - a fixed, pinned install
    return binary


def start_litellm(fake: FakeProvider, *, workers: int = 1) -> tuple[Target, subprocess.Popen]:
    binary = _litellm()
    port = _free_port()
    master = f"sk-bench-{secrets.token_hex(8)}"  # LiteLLM refuses its documented sample key
    config = ROOT / ".data" / "bench-litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {fake.base_url}\n"
        "      api_key: sk-fake\n"
        "general_settings:\n"
        f"  master_key: {master}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    env.pop("DATABASE_URL", None)  # LiteLLM would try to use Maestro's database
    log = (ROOT / ".data" / "bench-litellm.log").open("w")
    command = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--num_workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    headers = {"Authorization": f"Bearer {master}"}
    url = f"http://127.0.0.1:{port}"
    _wait_until_up(f"{url}/health/liveliness", process, 120, headers)
    name = "LiteLLM proxy" if workers == 1 else f"LiteLLM x{workers}"
    return Target(name, f"{url}/chat/completions", headers, MODEL, process.pid, workers=workers), process


# ---- measuring ------------------------------------------------------------------------------------


async def _one(client: httpx.AsyncClient, target: Target, stream: bool) -> float:
    started = time.perf_counter()
    if stream:
        async with client.stream("POST", target.url, json=target.body(True), headers=target.headers) as reply:
            if reply.status_code != 200:
                raise SystemExit(f"{target.name}: {reply.status_code} {await reply.aread()!r}")
            async for _chunk in reply.aiter_bytes():
                pass
    else:
        reply = await client.post(target.url, json=target.body(False), headers=target.headers)
        if reply.status_code != 200:
            raise SystemExit(f"{target.name}: {reply.status_code} {reply.text[:300]}")
    return (time.perf_counter() - started) * 1000


async def block(target: Target, *, stream: bool, clients: int, seconds: float) -> None:
    """`clients` concurrent clients, each sending one request after another for `seconds`.

    Each client has an httpx client (and a connection) of its own, as separate callers do. One shared
    pool of 64 connections costs the load generator about 4 ms of CPU a request (httpcore's pool does
    work proportional to its connections): on 2 cores that starves the servers being measured."""
    latencies: list[float] = []
    stop = 0.0

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            latencies.append(await _one(client, target, stream))

    pool = [httpx.AsyncClient(timeout=120) for _ in range(clients)]
    try:
        await asyncio.gather(*(_one(client, target, stream) for client in pool))  # open the connections
        stop = time.perf_counter() + seconds
        started, cpu = time.perf_counter(), _cpu_seconds(target.pid)
        await asyncio.gather(*(worker(client) for client in pool))
        wall = time.perf_counter() - started
        await asyncio.sleep(0.2)  # the bookkeeping of the last answers is part of their cost
        cpu = _cpu_seconds(target.pid) - cpu
    finally:
        for client in pool:
            await client.aclose()
    target.results.setdefault((stream, clients), []).append((latencies, wall))
    target.cpu_seconds[(stream, clients)] = target.cpu_seconds.get((stream, clients), 0.0) + cpu
    target.rss_mb = max(target.rss_mb, _rss_mb(target.pid))


def _cpu_per_request(target: Target, key: tuple[bool, int]) -> float:
    answered = sum(len(lats) for lats, _ in target.results[key])
    return 1000 * target.cpu_seconds.get(key, 0.0) / max(1, answered)


def _figures(target: Target, key: tuple[bool, int]) -> tuple[float, float, float]:
    runs = target.results[key]
    latencies = [x for lats, _ in runs for x in lats]
    rps = sum(len(lats) for lats, _ in runs) / sum(wall for _, wall in runs)
    return statistics.median(latencies), _env.percentile(latencies, 0.99), rps


async def side_by_side(targets: list[Target], *, seconds: float, rounds: int) -> None:
    loads: dict[tuple[bool, int], float] = {}
    for stream in (False, True):
        for clients in CONCURRENCY:
            for round_ in range(rounds):
                order = targets if round_ % 2 == 0 else list(reversed(targets))  # interleaved, both ways
                for target in order:
                    await block(target, stream=stream, clients=clients, seconds=seconds)
            loads[(stream, clients)] = os.getloadavg()[0]
    direct = targets[0]
    print("\n1. Over HTTP, interleaved blocks (ms; added = the target's percentile minus direct httpx's)")
    print(
        f"   {'':14} {'mode':10} {'clients':>7} {'p50':>8} {'p99':>8} {'added p50':>10} {'added p99':>10} "
        f"{'req/s':>8} {'CPU ms/req':>10} {'load 1m':>8}"
    )
    for stream in (False, True):
        for clients in CONCURRENCY:
            key = (stream, clients)
            base50, base99, _ = _figures(direct, key)
            for target in targets:
                p50, p99, rps = _figures(target, key)
                added = "" if target is direct else f"{p50 - base50:10.2f} {p99 - base99:10.2f}"
                cpu = f"{_cpu_per_request(target, key):10.2f}" if target.pid else ""
                print(
                    f"   {target.name:14} {'stream' if stream else 'complete':10} {clients:7d} {p50:8.2f} "
                    f"{p99:8.2f} {added:21} {rps:8.0f} {cpu:10} {loads[key]:8.2f}"
                )
    maestros = [t for t in targets if t.name.startswith("Maestro")]
    litellms = {t.workers: t for t in targets if t.name.startswith("LiteLLM")}
    # Like for like (the same number of server processes), then Maestro at one worker per core (its
    # deployment guidance) against LiteLLM at one worker (its docs' advice, the issue's setting).
    pairs = [(m, litellms[m.workers]) for m in maestros if m.workers in litellms]
    pairs += [(m, litellms[1]) for m in maestros if m.workers > 1 and 1 in litellms]
    for maestro, litellm in pairs:
        for stream in (False, True):
            ratio = _figures(maestro, (stream, 64))[2] / _figures(litellm, (stream, 64))[2]
            print(
                f"   at 64 clients, {'streaming' if stream else 'non-streaming'}: {maestro.name} serves "
                f"{ratio:.1f}x {litellm.name}'s requests/s (goal: at least 5x)"
            )
    print(
        "   CPU ms/req: the server's user + system CPU (its processes) over the requests it answered in"
        " the blocks, its own work whatever the load generator and the upstream cost"
    )
    print("   RSS after the run: " + ", ".join(f"{t.name} {t.rss_mb:.0f} MB" for t in targets[1:]))
    print(
        "   Maestro runs a tenant budget (reserve + settle in Redis), tenant and key limits, routing and "
        "a trace per call; LiteLLM's proxy runs no budgets or limits here (no database)."
    )


async def resets(target: Target, clients: int) -> None:
    """`clients` requests at once, each on a connection of its own: how many are reset or refused."""
    failures: dict[str, int] = {}
    statuses: dict[int, int] = {}

    async def one() -> None:
        async with httpx.AsyncClient(timeout=120, verify=TLS) as client:  # plain HTTP: no CA bundle
            try:
                reply = await client.post(target.url, json=target.body(False), headers=target.headers)
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            except RESET_ERRORS as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    wall = time.perf_counter() - started
    print(
        f"   {target.name:14} {clients} clients at once: {sum(failures.values())} connection errors "
        f"{failures or ''}, statuses {statuses}, {wall:.1f} s (goal: 0 resets)"
    )


def redis_per_call(tenant, target: Target, calls: int) -> None:
    """Bytes a call leaves in Redis: INFO memory and the key count before and after `calls` calls."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = "{maestro:budget}:reservation:"
    before_keys = sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))
    before = client.info("memory")["used_memory"]
    asyncio.run(_sequential(target, calls))
    time.sleep(0.5)  # the last settles run just after the last answers
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    after = client.info("memory")["used_memory"]
    sample = [client.memory_usage(k) or 0 for k in keys[:50]]
    ttls = [client.pttl(k) for k in keys[:50]]
    per_record = statistics.fmean(sample) if sample else 0
    print(f"\n3. Redis per call, {calls} calls through /v1 with a budget")
    print(
        f"   reservation records: {before_keys} before, {len(keys)} after; MEMORY USAGE of one "
        f"{per_record:.0f} bytes; TTL left at most {max(ttls, default=0) / 1000:.0f} s"
    )
    print(
        f"   INFO used_memory grew {after - before:+d} bytes ({(after - before) / calls:+.0f} bytes "
        "per call, held while the settled records live, then 0)"
    )


async def _sequential(target: Target, calls: int) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(calls):
            await _one(client, target, False)


def compare_servers(*, seconds: float, rounds: int) -> None:
    """Maestro's /v1 on uvicorn (uvloop, httptools) and on granian, interleaved (docs/serving.md)."""
    with FakeProvider.start(in_subprocess=True) as fake:
        direct = Target("direct httpx", f"{fake.base_url}/chat/completions", {}, MODEL)
        uvicorn, uvicorn_process, _ = start_maestro(fake)
        granian, granian_process, _ = start_maestro(fake, server="granian")
        try:
            asyncio.run(side_by_side([direct, uvicorn, granian], seconds=seconds, rounds=rounds))
        finally:
            for process in (uvicorn_process, granian_process):
                process.send_signal(signal.SIGTERM)
                process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one block")
    parser.add_argument("--rounds", type=int, default=2, help="blocks per target and setting")
    parser.add_argument("--resets", type=int, default=320)
    parser.add_argument("--calls", type=int, default=300, help="in-process overhead pairs; Redis calls")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also measure both servers with this many worker processes (Maestro's guidance: one per core)",
    )
    parser.add_argument("--servers", action="store_true", help="only: Maestro on uvicorn vs granian")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores")
    if args.servers:
        compare_servers(seconds=args.seconds, rounds=args.rounds)
        return
    with FakeProvider.start(in_subprocess=True) as fake:
        direct = Target("direct httpx", f"{fake.base_url}/chat/completions", {}, MODEL)
        maestro, maestro_process, tenant = start_maestro(fake)
        processes = [maestro_process]
        targets = [direct, maestro]
        try:
            if args.workers > 1:
                more, more_process, _ = start_maestro(fake, workers=args.workers)
                processes.append(more_process)
                targets.append(more)
            if not args.no_litellm:
                for workers in sorted({1, args.workers}):
                    litellm, litellm_process = start_litellm(fake, workers=workers)
                    processes.append(litellm_process)
                    targets.append(litellm)
            asyncio.run(side_by_side(targets, seconds=args.seconds, rounds=args.rounds))
            print("\n2. Connection resets")
            for target in targets[1:]:
                asyncio.run(resets(target, args.resets))
            redis_per_call(tenant, maestro, args.calls)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        print("\n4. In process (gateway.complete, no HTTP server)")
        in_process = bench_gateway.make_tenant(fake.base_url, f"bench-inproc-{uuid.uuid4().hex[:6]}")
        cached = bench_gateway.make_tenant(fake.base_url, f"bench-hit-{uuid.uuid4().hex[:6]}", cache=True)
        asyncio.run(bench_gateway.overhead(in_process, cached, fake.base_url, args.calls))
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
