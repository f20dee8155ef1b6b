"""The request being served, so `audit.services.record` knows who acted and from where.

`audit_request_middleware` (config/settings/base.py) holds the request in a context variable for the
length of the request and resets it in a `finally`. The user and the API key are read when an event is
recorded, not when the request arrives: the REST API authenticates inside the view (DRF sets `user`
and `auth` on the underlying request then). Celery tasks and commands have no request; their callers
pass the actor to `record` explicitly, or the event is Maestro's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

_current_request: ContextVar[HttpRequest | None] = ContextVar("maestro_audit_request", default=None)


def current_request() -> HttpRequest | None:
    return _current_request.get()


@contextlib.contextmanager
def request_context(request: HttpRequest) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


@sync_and_async_middleware
def audit_request_middleware(get_response: Callable) -> Callable:
    """Makes the request known to `record`, for sync and async views alike."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            with request_context(request):
                return await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        with request_context(request):
            return get_response(request)

    return middleware
