"""A small HTTP/1.1 server on asyncio streams, enough for the fake provider.

It keeps connections alive, reads Content-Length request bodies (what httpx sends for JSON), writes
fixed-length and chunked responses, can break a response off mid-body, and holds thousands of idle
or slowly streaming connections in one event loop. Chunked request bodies are not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

MAX_HEAD_BYTES = 1 << 20
LISTEN_BACKLOG = 4096  # a benchmark opens a thousand connections at once


class MalformedRequestError(Exception):
    pass


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    keep_alive: bool

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Responder:
    """Writes one response on a connection; `keep_alive` turns False when the connection must close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        self._reader = reader
        self._writer = writer
        self.keep_alive = keep_alive

    async def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        await self._write(_head(status, headers | {"content-length": str(len(body))}, self.keep_alive) + body)

    async def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        await self.send(status, body, {"content-type": "application/json"} | (headers or {}))

    async def start_chunked(self, status: int, headers: dict[str, str]) -> None:
        await self._write(_head(status, headers | {"transfer-encoding": "chunked"}, self.keep_alive))

    async def write_chunk(self, data: bytes) -> None:
        if data:
            await self._write(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_chunked(self) -> None:
        await self._write(b"0\r\n\r\n")

    async def close_abruptly(self) -> None:
        """Flush what was written, then close without finishing the body (a dropped connection)."""
        self.keep_alive = False
        await self._writer.drain()
        self._writer.close()

    async def wait_for_disconnect(self) -> None:
        """Hang: answer nothing more until the client gives up and closes the connection."""
        self.keep_alive = False
        while await self._reader.read(65536):
            pass

    async def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self._writer.write(data)
        await self._writer.drain()


Handler = Callable[[HttpRequest, Responder], Awaitable[None]]

_REASONS = {529: "Overloaded"}


def _head(status: int, headers: dict[str, str], keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "")


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request on a connection, or None when the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    request_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    try:
        method, target, version = request_line.split(" ", 2)
    except ValueError:
        raise MalformedRequestError(request_line) from None
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise MalformedRequestError("chunked request bodies are not supported")
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    connection = headers.get("connection", "").lower()
    keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
    return HttpRequest(method.upper(), path, query, headers, body, keep_alive)


@dataclass
class ConnectionStats:
    accepted: int = 0  # connections ever opened: few per many requests means keep-alive works
    open: int = 0
    peak: int = 0
    requests: int = 0


class HttpServer:
    """Serves `handler` on host:port (0 picks a free port) until `stop()`."""

    def __init__(
        self, handler: Handler, host: str = "127.0.0.1", port: int = 0, stats: ConnectionStats | None = None
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.stats = stats or ConnectionStats()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEAD_BYTES, backlog=LISTEN_BACKLOG
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for task in list(self._connections):  # Python 3.11's wait_closed() does not end connections
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - start_server runs callbacks as tasks
        self._connections.add(task)
        self.stats.accepted += 1
        self.stats.open += 1
        self.stats.peak = max(self.stats.peak, self.stats.open)
        try:
            await self._serve_requests(reader, writer)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            MalformedRequestError,
        ):
            pass  # the client went away or spoke something else: drop the connection
        except asyncio.CancelledError:
            # stop() cancels connections; ending quietly spares asyncio's stream callback, which
            # would otherwise log the cancellation as an error on Python 3.11.
            if not self._stopping:
                raise
        finally:
            self.stats.open -= 1
            self._connections.discard(task)
            writer.close()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            self.stats.requests += 1
            responder = Responder(reader, writer, request.keep_alive)
            await self.handler(request, responder)
            if not responder.keep_alive:
                return


START_TIMEOUT = 15.0


class Handles(Protocol):
    async def _handle(self, request: HttpRequest, responder: Responder) -> None: ...


H = TypeVar("H", bound=Handles)


@contextlib.contextmanager
def serve_in_thread(name: str, handle_of: Callable[[HttpServer], H]) -> Iterator[H]:
    """Run an HttpServer on a loop in a daemon thread for the `with` block; `handle_of(server)` makes
    the object the test scripts, whose `_handle` answers each request (the fake LinkedIn, the fake CRM)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    handle: H | None = None

    async def handler(request: HttpRequest, responder: Responder) -> None:
        assert handle is not None  # noqa: S101 - set before the first request can arrive
        await handle._handle(request, responder)

    server = HttpServer(handler)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(START_TIMEOUT)
    handle = handle_of(server)
    try:
        yield handle
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
