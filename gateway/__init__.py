"""Maestro's LLM gateway: every model call in the product goes through here.

    from gateway import GatewayRequest, complete, complete_sync, stream

    response = await complete(GatewayRequest(tenant=..., purpose="post", messages=[...]))
    async for event in stream(request): ...
    response = complete_sync(request)      # from sync code (views, prefork tasks)

The names below are the gateway's public API; everything else in the package is its inside.
They are loaded on first use (PEP 562) because Django imports this package before the app
registry is ready, and the call path needs the gateway's models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.calls import complete, complete_sync, stream
    from gateway.runtime import GatewayConfig, Runtime, build_runtime
    from gateway.types import GatewayError, GatewayRequest, GatewayResponse, GatewayStreamEvent

_EXPORTS = {
    "complete": "gateway.calls",
    "complete_sync": "gateway.calls",
    "stream": "gateway.calls",
    "GatewayConfig": "gateway.runtime",
    "Runtime": "gateway.runtime",
    "build_runtime": "gateway.runtime",
    "GatewayError": "gateway.types",
    "GatewayRequest": "gateway.types",
    "GatewayResponse": "gateway.types",
    "GatewayStreamEvent": "gateway.types",
}

__all__ = [
    "GatewayConfig",
    "GatewayError",
    "GatewayRequest",
    "GatewayResponse",
    "GatewayStreamEvent",
    "Runtime",
    "build_runtime",
    "complete",
    "complete_sync",
    "stream",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
