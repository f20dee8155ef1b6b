"""The ASGI application that uvicorn serves (`make run`, production: see docs/serving.md).

Django's ASGI handler answers HTTP only; this wrapper adds the lifespan protocol so the gateway's
process-wide runtime (pooled upstream connections, one Redis pool) is made once when the server
starts, on the server's own loop, and drained when it stops: calls settle their budget and write
their trace after the response is sent, and a SIGTERM waits for that work instead of dropping it.
`POST /v1/chat/completions` goes through the front door of api/openai_asgi.py, which serves the
common case without Django's middleware stack and hands everything else to Django.
"""

import logging
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
os.environ.setdefault("MAESTRO_DB_POOL", "on")  # the web server lends connections from a pool (settings)
django_application = get_asgi_application()  # sets Django up before the gateway is imported

from api.openai_asgi import front_door  # noqa: E402 - needs Django set up
from gateway.runtime import start_serving, stop_serving  # noqa: E402

logger = logging.getLogger("maestro.server")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await start_serving()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await stop_serving()
            except Exception:  # still report the shutdown: a stuck server helps nobody
                logger.exception("draining the gateway at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


served = front_door(django_application)  # POST /v1/chat/completions without Django's stack


async def application(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await served(scope, receive, send)
