"""The outbound-URL guard: every URL a tenant supplies is checked here, and connected to as checked.

Tenants name URLs Maestro then calls: model provider base URLs, webhook endpoints, a flow's HTTP step.
None of them may reach inside our network (SSRF: the metadata service, Redis, an admin port), so each
is refused when its host resolves to a private, loopback, link-local or otherwise internal address.

Checking a name and then letting the HTTP client resolve it again leaves a window: a name that
answered a public address to the check may answer 127.0.0.1 to the connect (DNS rebinding). So the
clients made here resolve once, inside the connect, check every address, and open the socket to the
address they checked; TLS still verifies the certificate for the original host name (SNI) and the
`Host` header is the URL's. Redirects are not followed by these clients' callers, and each connection
a redirect would open goes through the same check.

`MAESTRO_ALLOW_PRIVATE_NETWORKS` (the operator's setting, never a tenant's) lifts the address check
for self-hosted targets on a private network; the URL must still be http(s).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import typing
from dataclasses import dataclass
from urllib.parse import urlparse

import anyio
import httpcore
import httpx
from django.conf import settings

from common.asyncio_http import AsyncioBackend, AsyncioTransport

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SocketOptions = typing.Iterable[httpcore.SOCKET_OPTION] | None


class OutboundURLRefusedError(ValueError):
    """The URL is not http(s), does not resolve, or points inside our network (SSRF)."""


@dataclass(frozen=True)
class CheckedURL:
    url: str
    host: str
    port: int
    addresses: tuple[str, ...]  # what the host resolved to when checked (empty when not resolved)


def private_networks_allowed() -> bool:
    return bool(getattr(settings, "MAESTRO_ALLOW_PRIVATE_NETWORKS", False))


def is_internal(ip: Address) -> bool:
    """Anything that is not a public unicast address, including IPv4 written as IPv6 (::ffff:a.b.c.d)."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def _parse(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OutboundURLRefusedError(f"{url!r} is not an http(s) URL")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundURLRefusedError(f"{url!r} has an invalid port") from exc
    return parsed.hostname, port


def vetted_addresses(host: str, infos: list[tuple], *, allow_private: bool) -> list[str]:
    """The resolved addresses, in resolver order; refuses the host if any of them is internal."""
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OutboundURLRefusedError(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            if is_internal(ipaddress.ip_address(address.split("%", 1)[0])):
                raise OutboundURLRefusedError(f"{host} resolves to an internal address ({address}); refused")
    return addresses


def _resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundURLRefusedError(f"{host} does not resolve") from exc
    return vetted_addresses(host, infos, allow_private=allow_private)


def check_outbound_url(url: str, *, allow_private: bool | None = None) -> CheckedURL:
    """Refuse URLs that point inside our network: tenants must not reach internal services.

    Use it to tell a tenant at once that a URL they enter cannot work (forms, saving a provider); the
    connection itself goes through `guarded_client` / `AsyncGuardedTransport`, which checks again at
    connect time, on the address it connects to.
    """
    host, port = _parse(url)
    allow = private_networks_allowed() if allow_private is None else allow_private
    if allow:
        return CheckedURL(url=url, host=host, port=port, addresses=())
    return CheckedURL(
        url=url, host=host, port=port, addresses=tuple(_resolve(host, port, allow_private=False))
    )


# ---- connecting to the address that was checked ----------------------------------------------------


class GuardedSyncBackend(httpcore.SyncBackend):
    """Resolves the host once, refuses internal addresses, connects to a checked address."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, allow_private=self.allow_private)
        error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"cannot connect to {host}")


class AsyncGuardedBackend(AsyncioBackend):
    """The asyncio twin of GuardedSyncBackend (resolution runs off the event loop)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundURLRefusedError(f"{host} does not resolve") from exc
        addresses = vetted_addresses(host, list(infos), allow_private=self.allow_private)
        error: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"cannot connect to {host}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded backend under its connection pool."""

    def __init__(
        self, *, allow_private: bool | None = None, verify: ssl.SSLContext | bool = True, limits=None
    ) -> None:
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits)
        allow = private_networks_allowed() if allow_private is None else allow_private
        self._pool = httpcore.ConnectionPool(
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedSyncBackend(allow_private=allow),
        )


class AsyncGuardedTransport(AsyncioTransport):
    def __init__(
        self, *, allow_private: bool | None = None, verify: ssl.SSLContext | bool = True, limits=None
    ) -> None:
        allow = private_networks_allowed() if allow_private is None else allow_private
        backend = AsyncGuardedBackend(allow_private=allow)
        super().__init__(verify=verify, limits=limits, network_backend=backend)


def guarded_client(*, timeout: httpx.Timeout | float = 10.0) -> httpx.Client:
    """A sync client for tenant-supplied URLs (webhooks, flow HTTP steps); never follows redirects."""
    return httpx.Client(transport=GuardedTransport(), timeout=timeout, follow_redirects=False)
