"""A fake LLM provider: a real HTTP server on 127.0.0.1 speaking OpenAI's Chat Completions and
Anthropic's Messages APIs (streamed and not), scripted from the test process.

    with FakeProvider.start() as fake:                      # a background thread with its own loop
        fake.enqueue(Behaviour(error="rate_limited", retry_after="2"), model="gpt-x")
        fake.set_behaviour(Behaviour(first_token_delay=2, output_tokens=50))   # every other request
        ... ProviderConfig(kind="openai", base_url=fake.base_url) ...
        assert fake.requests(model="gpt-x")[0].body["stream"] is True

`FakeProvider.start(in_subprocess=True)` runs the server in its own process so that a benchmark's
client does not share the GIL with a thousand streams; scripting works the same (over HTTP).
Run standalone with `python -m testing.fake_provider --port 8900`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from testing.fake_server import Behaviour, make_server
from testing.fake_wire import ERRORS

__all__ = ["ERRORS", "Behaviour", "FakeProvider", "RecordedRequest"]

PORT_LINE_PREFIX = "fake-provider-port="
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    model: str | None
    headers: dict[str, str]  # names lower-cased
    body: Any  # the decoded JSON body
    received_at: float  # time.time() on arrival


class FakeProvider:
    """A handle on a running fake server: its URL, and scripting and inspection over HTTP."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"  # what a ProviderConfig's base_url should be
        self._control = httpx.Client(base_url=f"{self.url}/_fake", trust_env=False, timeout=10)

    @classmethod
    @contextlib.contextmanager
    def start(cls, *, in_subprocess: bool = False, max_recorded: int = 10_000) -> Iterator[FakeProvider]:
        """Run a server on a free port for the duration of the `with` block."""
        _raise_open_files_limit()
        runner = _ServerProcess(max_recorded) if in_subprocess else _ServerThread(max_recorded)
        port = runner.start()
        fake = cls(port)
        try:
            yield fake
        finally:
            fake._control.close()
            runner.stop()

    def enqueue(self, *behaviours: Behaviour, model: str | None = None) -> None:
        """One-shot behaviours for the next requests to `model` (None: to any model), in order."""
        self._post("script", {"model": model, "once": [behaviour.to_json() for behaviour in behaviours]})

    def set_behaviour(self, behaviour: Behaviour, *, model: str | None = None) -> None:
        """What every request to `model` (None: to any model) gets once the one-shots are used up."""
        self._post("script", {"model": model, "standing": behaviour.to_json()})

    def set_slots(self, slots: int, *, model: str | None = None) -> None:
        """Serve at most `slots` requests to `model` (None: to each model without its own) at once;
        the others wait in line before any answer byte, as llama.cpp's server does."""
        self._post("slots", {"model": model, "slots": slots})

    def concurrency(self) -> dict[str, dict[str, int]]:
        """{"active": {model: n}, "peak": {model: n}}: requests answered at once, now and at most."""
        response = self._control.get("concurrency")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget every behaviour, recorded request and slot limit."""
        self._post("reset", {})

    def requests(self, *, model: str | None = None, path_suffix: str | None = None) -> list[RecordedRequest]:
        """Chat requests received so far, oldest first (the last `max_recorded` of them)."""
        response = self._control.get("requests")
        response.raise_for_status()
        recorded = [RecordedRequest(**item) for item in response.json()]
        return [
            request
            for request in recorded
            if (model is None or request.model == model)
            and (path_suffix is None or request.path.endswith(path_suffix))
        ]

    def stats(self) -> dict[str, int]:
        """Connections accepted in all, open now and at the peak; requests served (control ones included)."""
        response = self._control.get("stats")
        response.raise_for_status()
        return response.json()

    def _post(self, action: str, payload: dict[str, Any]) -> None:
        self._control.post(action, json=payload).raise_for_status()


def _raise_open_files_limit() -> None:
    """A thousand streams need a thousand sockets on each side; default soft limits are often 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class _ServerThread:
    """The server on its own event loop in a daemon thread of this process."""

    def __init__(self, max_recorded: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-provider", daemon=True)
        self.server = make_server(max_recorded=max_recorded)

    def start(self) -> int:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(START_TIMEOUT)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(START_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_TIMEOUT)
        self.loop.close()


class _ServerProcess:
    """The server in a child Python process, which prints its port on its first line."""

    def __init__(self, max_recorded: int) -> None:
        self.command = [sys.executable, "-m", __name__, "--port", "0", "--max-recorded", str(max_recorded)]
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> int:
        project_root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(filter(None, [project_root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self.command, stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": python_path}
        )
        assert self.process.stdout is not None  # noqa: S101 - stdout=PIPE was asked for
        line = self.process.stdout.readline().strip()
        if not line.startswith(PORT_LINE_PREFIX):
            self.stop()
            raise RuntimeError(f"the fake provider process did not start (said {line!r})")
        return int(line.removeprefix(PORT_LINE_PREFIX))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def serve(host: str, port: int, max_recorded: int) -> None:
    """Serve until SIGTERM or SIGINT; print the port first so a parent process can find it."""
    _raise_open_files_limit()
    server = make_server(host=host, port=port, max_recorded=max_recorded)
    bound_port = await server.start()
    print(f"{PORT_LINE_PREFIX}{bound_port}", flush=True)  # the parent process reads this line
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    await stopping.wait()
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic provider for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-recorded", type=int, default=10_000)
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.host, arguments.port, arguments.max_recorded))


if __name__ == "__main__":
    main()
