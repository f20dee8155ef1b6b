"""The gateway's entry points: one call, streamed or not, from async or sync code.

    response = await gateway.complete(GatewayRequest(tenant=..., purpose="post", messages=[...]))
    async for event in gateway.stream(request): ...
    response = gateway.complete_sync(request)      # from sync code (views, prefork tasks)

Each call gets an id (`request.call_id`), returned in responses and errors and
written in logs and in its Trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

from asgiref.sync import async_to_sync

from gateway.core import Call
from gateway.runtime import GatewayConfig, Runtime, build_runtime, current_runtime
from gateway.types import GatewayError, GatewayRequest, GatewayResponse, GatewayStreamEvent

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

logger = logging.getLogger("maestro.gateway")


async def stream(
    request: GatewayRequest, *, runtime: Runtime | None = None
) -> AsyncGenerator[GatewayStreamEvent, None]:
    """Yield `delta` events as text arrives, `restart` if a fallback starts over, then one `done`."""
    call = Call(request, runtime or current_runtime(), stream=True)
    async for event in _run(call):
        yield event


async def complete(request: GatewayRequest, *, runtime: Runtime | None = None) -> GatewayResponse:
    call = Call(request, runtime or current_runtime(), stream=False)
    response = None
    async with aclosing(_run(call)) as events:
        async for event in events:  # run to the end: settling and the trace happen after "done"
            if event.kind == "done":
                response = event.response
    if response is None:
        raise GatewayError("internal", "The call ended without an answer.", call_id=request.call_id)
    return response


@async_to_sync
async def complete_sync(request: GatewayRequest) -> GatewayResponse:
    """For sync code (views, prefork tasks): each call runs on a fresh event loop, so it gets a
    runtime of its own that is closed afterwards. Long-lived async workers reuse one runtime."""
    config = GatewayConfig.from_settings()
    config.http_clients = 1  # one call: no pool to shard
    runtime = build_runtime(config)
    try:
        return await complete(request, runtime=runtime)
    finally:
        await runtime.aclose()


async def _run(call: Call) -> AsyncGenerator[GatewayStreamEvent, None]:
    error: GatewayError | None = None
    answered = False
    try:
        await call.prepare()
        async for event in call.events():
            answered = answered or event.kind == "done"
            yield event
    except GatewayError as exc:
        exc.call_id = call.request.call_id
        error = exc
        raise
    except (GeneratorExit, asyncio.CancelledError):
        if not answered:
            error = GatewayError("cancelled", "The caller stopped before the answer was complete.")
        raise
    except Exception as exc:
        logger.exception("gateway call %s failed unexpectedly", call.request.call_id)
        error = GatewayError("internal", f"Unexpected {type(exc).__name__} in the gateway.")
        raise
    finally:
        await call.finish(error)
        logger.info(
            "gateway call %s tenant=%s purpose=%s model=%s status=%s cost_micros=%s",
            call.request.call_id,
            call.request.tenant.pk,
            call.request.purpose,
            call.final_model.alias if call.final_model else "-",
            error.code if error else "ok",
            call.spent_micros,
        )
