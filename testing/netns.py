"""Separate hosts on one machine, for tests of a deployment over several hosts: Linux network
namespaces, each with its own address on a veth pair to the root namespace, and the shared services
(PostgreSQL, Redis, the fake provider) reachable from them over TCP on host-side addresses only.

    with Network.create(hosts=2) as network:               # needs root and iproute2 (`ip netns`)
        redis = RedisServer(bind=[network.services_address]).start()   # reachable from every host
        subprocess.Popen(network.hosts[0].command(["python", ...]))     # `ip netns exec NAME python ...`

A namespace has its own loopback: 127.0.0.1 inside one is not the machine's, so nothing a process in
it reaches goes through a local address or file but the code it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testing.fake_provider import PORT_LINE_PREFIX, FakeProvider


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"mst-probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)  # noqa: S603, S607 - iproute2


@dataclass
class Host:
    """One namespace: `address` is its own, `gateway` the root namespace's end of its veth pair."""

    name: str
    address: str
    gateway: str

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host's namespace (`ip netns exec` execs it: the pid stays the same)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def pids(self) -> list[int]:
        listed = _ip("netns", "pids", self.name, check=False)
        return [int(pid) for pid in listed.stdout.split()]


@dataclass
class Network:
    hosts: list[Host] = field(default_factory=list)

    @property
    def services_address(self) -> str:
        """A root-namespace address every host reaches: where the shared services listen."""
        return self.hosts[0].gateway

    @classmethod
    @contextlib.contextmanager
    def create(cls, *, hosts: int) -> Iterator[Network]:
        """`hosts` namespaces, each on a /30 of its own (10.<n>.<i>.0/30). Everything is removed on
        exit, failure included: processes still in a namespace are killed, then the namespace goes
        (and its veth pair with it)."""
        network = cls()
        tag = os.getpid() % 10000
        second = _unused_second_octet()
        try:
            for index in range(hosts):
                network.hosts.append(_make_host(f"mst{tag}h{index}", second, index))
            yield network
        finally:
            network.remove()

    def remove(self) -> None:
        for host in self.hosts:
            for pid in host.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _ip("netns", "del", host.name, check=False)
            _ip("link", "del", f"{host.name}r", check=False)


def _unused_second_octet() -> int:
    """N such that no address of this machine is in 10.N.0.0/16 (another run's hosts, say)."""
    listed = _ip("-o", "-4", "addr", "show").stdout
    used = {int(octet) for octet in re.findall(r"inet 10\.(\d+)\.", listed)}
    start = 100 + os.getpid() % 100
    return next(n for n in [*range(start, 200), *range(100, start)] if n not in used)


def _make_host(name: str, second: int, index: int) -> Host:
    gateway, address = f"10.{second}.{index}.1", f"10.{second}.{index}.2"
    outside, inside = f"{name}r", f"{name}n"  # interface names: at most 15 characters
    _ip("netns", "del", name, check=False)  # a leftover of a killed run
    _ip("link", "del", outside, check=False)
    _ip("netns", "add", name)
    host = Host(name=name, address=address, gateway=gateway)
    _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    _ip("link", "set", inside, "netns", name)
    _ip("addr", "add", f"{gateway}/30", "dev", outside)
    _ip("link", "set", outside, "up")
    _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/30", "dev", inside)
    _ip("netns", "exec", name, "ip", "link", "set", inside, "up")
    _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    # Through its gateway a host reaches every address of the root namespace (the services'), and
    # nothing else: the root namespace does not forward between hosts.
    _ip("netns", "exec", name, "ip", "route", "add", "default", "via", gateway)
    return host


# ---- services on the host side -----------------------------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server of the test's own, listening on the given addresses only."""

    def __init__(self, *, bind: list[str]) -> None:
        self.bind = bind
        self.port = free_port(bind[0])
        self.process: subprocess.Popen | None = None

    def url(self, host: str | None = None, db: int = 0) -> str:
        return f"redis://{host or self.bind[0]}:{self.port}/{db}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        argv = [binary, "--port", str(self.port), "--bind", *self.bind, "--save", "", "--appendonly", "no"]
        argv += ["--protected-mode", "no"]  # it listens on addresses of this test's own networks only
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 10
        while not _answers_ping(self.bind[0], self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class UnixSocketForwarder:
    """TCP on `listen` addresses, forwarded to a unix socket: a server that listens on a socket file
    only (the embedded PostgreSQL) becomes reachable from other hosts over the network."""

    def __init__(self, socket_path: str, *, listen: list[str]) -> None:
        self.socket_path, self.listen = socket_path, listen
        self.port = free_port(listen[0])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="unix-forwarder", daemon=True)
        self.servers: list[asyncio.Server] = []

    def start(self) -> UnixSocketForwarder:
        self.thread.start()
        for address in self.listen:
            server = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(self._forward, address, self.port), self.loop
            ).result(10)
            self.servers.append(server)
        return self

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class FakeProviderAt(FakeProvider):
    """The fake provider in a process of its own, listening on one host-side address."""

    def __init__(self, host: str, port: int, process: subprocess.Popen) -> None:
        super().__init__(port)
        self._control.close()
        self.url = f"http://{host}:{port}"
        self.base_url = f"{self.url}/v1"
        self._control = httpx.Client(base_url=f"{self.url}/_fake", trust_env=False, timeout=10)
        self.process = process

    @classmethod
    def launch(cls, host: str) -> FakeProviderAt:
        root = str(Path(__file__).resolve().parents[1])
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        argv = [sys.executable, "-m", "testing.fake_provider", "--host", host, "--port", "0"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith(PORT_LINE_PREFIX):
            process.kill()
            raise RuntimeError(f"the fake provider did not start (said {line!r})")
        return cls(host, int(line.removeprefix(PORT_LINE_PREFIX)), process)

    def shut_down(self) -> None:
        self._control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
