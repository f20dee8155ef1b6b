"""httpx's async transport on asyncio's own streams, for the connections Maestro keeps to providers.

httpcore's default async network backend goes through anyio: every read and write of a pooled
connection enters a cancel scope, a resource guard and a checkpoint. On the gateway's hot path that
was about 6% of a call's CPU (py-spy, one client) for a connection that only ever runs on asyncio.
`AsyncioBackend` does the same job with `asyncio.open_connection` and the stream pair it returns:

- timeouts as httpcore asks for them (`asyncio.timeout`, none when httpcore passes None), raised as
  httpcore's own `ReadTimeout` / `WriteTimeout` / `ConnectTimeout`, and OS errors as `ReadError`,
  `WriteError` and `ConnectError`, so httpx maps them exactly as before;
- a write that the kernel took whole returns without waiting; otherwise it waits for the buffer to
  drain, under the write timeout;
- `is_readable` (httpcore's test of an idle pooled connection before it is reused) reads the stream's
  own state: asyncio reads the socket as data arrives, so the socket itself never looks readable;
- closing does what anyio's stream does: close, one turn of the loop, then abort, so a peer that never
  answers a TLS close cannot hold up the caller.

Cancellation needs nothing of its own: a cancelled task raises `CancelledError` at the await it is in,
and httpcore closes the connection as it does with any backend.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

SocketOptions = Iterable[httpcore.SOCKET_OPTION]


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"no data within {timeout}s") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        transport = self._writer.transport
        try:
            self._writer.write(buffer)
            if transport.get_write_buffer_size() == 0 and not transport.is_closing():
                return  # the kernel took it all: nothing to wait for
            if timeout is None:
                await self._writer.drain()
                return
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"could not send within {timeout}s") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        transport = self._writer.transport
        if transport.is_closing():
            return
        transport.close()
        await asyncio.sleep(0)
        transport.abort()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout(f"TLS handshake took more than {timeout}s") from exc
        except OSError as exc:  # ssl.SSLError included
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # An idle connection with something to read has been closed (or broken) by the server.
            reader = self._reader
            buffered = len(getattr(reader, "_buffer", b""))  # asyncio has no public "bytes waiting"
            return (
                reader.at_eof()
                or buffered > 0
                or reader.exception() is not None
                or self._writer.transport.is_closing()
            )
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} took more than {timeout}s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)  # asyncio already sets TCP_NODELAY
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: SocketOptions | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {path} took more than {timeout}s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's async transport with its connection pool on `network_backend` (`AsyncioBackend` unless
    given), keeping the pool's TLS context and limits."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend or AsyncioBackend(),
        )
