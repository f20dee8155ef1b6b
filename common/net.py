"""The outbound-URL guard: every URL a tenant supplies is checked here before Maestro connects to it."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from django.conf import settings


class OutboundURLRefusedError(ValueError):
    """The URL is not http(s), does not resolve, or points inside our network (SSRF)."""


def check_outbound_url(url: str) -> None:
    """Refuse URLs that point inside our network: tenants must not reach internal services.

    `MAESTRO_ALLOW_PRIVATE_HTTP_STEPS` (an operator's setting, never a tenant's) lifts the address
    check for self-hosted targets on a private network.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OutboundURLRefusedError(f"{url!r} is not an http(s) URL")
    if getattr(settings, "MAESTRO_ALLOW_PRIVATE_HTTP_STEPS", False):
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, parsed.port or 443)}
    except socket.gaierror as exc:
        raise OutboundURLRefusedError(f"{parsed.hostname} does not resolve") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise OutboundURLRefusedError(
                f"{parsed.hostname} resolves to an internal address ({ip}); refused"
            )
