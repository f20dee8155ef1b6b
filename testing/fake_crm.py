"""A fake CRM: a real HTTP server on 127.0.0.1 that records what a flow's HTTP step sends it.

with FakeCRM.start() as crm:                  # a background thread with its own loop
    crm.answer(201, {"id": "lead-7"})         # what every request gets (default: 200 {"ok": true})
    crm.echo_header("authorization")          # answer with that header's value in "echo" (a CRM
                                              # that reflects what it got: Maestro must not store it)
    crm.fail_next(503)                        # one-shot failures, in order
    ... a flow's HTTP step posts to crm.url + "/hooks/maestro" ...
    [request] = crm.received()
    request.headers["x-maestro-signature"], request.body   # exact bytes, header names lower-cased
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from testing.fake_http import HttpRequest, HttpServer, Responder, serve_in_thread


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _State:
    status: int = 200
    payload: Any = field(default_factory=lambda: {"ok": True})
    echo: str = ""
    failures: list[int] = field(default_factory=list)
    received: list[ReceivedRequest] = field(default_factory=list)


class FakeCRM:
    def __init__(self, server: HttpServer, state: _State, lock: threading.Lock) -> None:
        self.url = f"http://127.0.0.1:{server.port}"
        self._state = state
        self._lock = lock

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[FakeCRM]:
        state, lock = _State(), threading.Lock()
        with serve_in_thread("fake-crm", lambda server: cls(server, state, lock)) as handle:
            yield handle

    # ---- scripting ------------------------------------------------------------------------------

    def answer(self, status: int, payload: Any) -> None:
        with self._lock:
            self._state.status, self._state.payload = status, payload

    def echo_header(self, name: str) -> None:
        with self._lock:
            self._state.echo = name.lower()

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._state.failures.extend(statuses)

    def received(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._state.received)

    # ---- the server side (runs on the server's loop thread) ----------------------------------------

    async def _handle(self, request: HttpRequest, responder: Responder) -> None:
        with self._lock:
            self._state.received.append(
                ReceivedRequest(request.method, request.path, dict(request.headers), request.body)
            )
            failure = self._state.failures.pop(0) if self._state.failures else None
            status, payload, echo = self._state.status, self._state.payload, self._state.echo
        if failure is not None:
            await responder.send_json(failure, {"error": "unavailable"})
            return
        if echo and isinstance(payload, dict):
            payload = {**payload, "echo": request.headers.get(echo, "")}
        await responder.send_json(status, payload)
