"""One event loop per process for sync callers that make many concurrent model calls.

Celery workers run flows on a thread pool (see README: "Workers"): each flow is a
thread that waits on model calls. Those calls all run on this process-wide loop,
in one gateway runtime, so a hundred flows share one set of HTTP and Redis
connections instead of building and tearing down a runtime per call.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable

from gateway import GatewayConfig, GatewayError, GatewayRequest, GatewayResponse, build_runtime, stream
from gateway.runtime import Runtime
from telemetry.tracing import continued, current_context

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_runtime: Runtime | None = None


def _start() -> tuple[asyncio.AbstractEventLoop, Runtime]:
    global _loop, _runtime  # process-wide by design: one loop and runtime per process
    with _lock:
        if _loop is None or _runtime is None:  # set together here, cleared together by shutdown()
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="gateway-loop", daemon=True)
            thread.start()
            runtime = asyncio.run_coroutine_threadsafe(_build(), loop).result()
            _loop, _runtime = loop, runtime
            atexit.register(shutdown)
        return _loop, _runtime


async def _build() -> Runtime:
    return build_runtime(GatewayConfig.from_settings())


def call_streaming(
    request: GatewayRequest, *, on_event: Callable[[str, str], None] | None = None, timeout: float = 900
) -> GatewayResponse:
    """Run one streamed gateway call on the shared loop and wait for its answer.

    `on_event(kind, text)` is called on the loop thread for each delta ("delta", text) and for a
    restart after a fallback ("restart", reason); it must be quick and thread-safe.
    """
    loop, runtime = _start()
    parent = current_context()  # the caller's span (a flow step): the call's span goes under it

    async def run() -> GatewayResponse:
        response = None
        with continued(parent):
            async for event in stream(request, runtime=runtime):
                if event.kind == "done":
                    response = event.response
                elif on_event is not None:
                    on_event(event.kind, event.text or event.reason)
        if response is None:  # as in gateway.complete: a stream that ends without "done"
            raise GatewayError("internal", "The call ended without an answer.", call_id=request.call_id)
        return response

    return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)


def shutdown() -> None:
    """Drain bookkeeping (settles, traces) and stop the loop; called at process exit."""
    global _loop, _runtime
    with _lock:
        if _loop is None or _runtime is None:
            return
        asyncio.run_coroutine_threadsafe(_runtime.aclose(), _loop).result(30)
        _loop.call_soon_threadsafe(_loop.stop)
        _loop, _runtime = None, None
