"""Every API error in one shape, decided here and nowhere else.

    REST (/api/v1/):  {"error": {"code": "...", "message": "...", "details": {...}}}
    OpenAI (/v1/):    {"error": {"message": "...", "type": "...", "param": null, "code": "..."}}

Gateway refusals keep their status (402 budget, 429 rate limit, 413 too large, 503 no model) and
send `Retry-After` when the gateway knows when a retry can pass.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.response import Response

from api.pagination import InvalidCursorError, InvalidPageSizeError
from api.validation import InvalidInput, RequestTooLarge, max_body_bytes
from gateway import GatewayError
from orchestrator.queueing import QueueUnavailableError
from reviews.services import ReviewError

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, message: str, *, details=None, retry_after=None):
        super().__init__(message)
        self.status_code, self.code, self.message = status_code, code, message
        # Always an object: DRF reports a body that is not an object as a bare list of messages.
        self.details = (
            details if isinstance(details, dict) else {"non_field_errors": details} if details else {}
        )
        self.retry_after = retry_after


def _django_validation_details(exc: DjangoValidationError):
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}


def _message_of(detail) -> str:
    if isinstance(detail, dict):
        first = next(iter(detail.items()), None)
        return f"{first[0]}: {_message_of(first[1])}" if first else "Invalid input."
    if isinstance(detail, list):
        return _message_of(detail[0]) if detail else "Invalid input."
    return str(detail)


def _from_drf(exc: exceptions.APIException, view) -> ApiError:
    if isinstance(exc, exceptions.ValidationError):
        return ApiError(400, "validation_error", _message_of(exc.detail), details=exc.detail)
    own_code = exc.get_codes()
    code = own_code if isinstance(own_code, str) else "error"
    codes = {
        exceptions.NotAuthenticated: "unauthenticated",
        exceptions.AuthenticationFailed: code if code != "authentication_failed" else "unauthenticated",
        exceptions.PermissionDenied: "forbidden",
        exceptions.NotFound: "not_found",
        exceptions.Throttled: "rate_limited",
    }
    code = next((c for kind, c in codes.items() if isinstance(exc, kind)), code)
    details = {}
    missing = getattr(view, "missing_scope", None)
    if isinstance(exc, exceptions.PermissionDenied) and missing:
        details["required_scope"] = missing
    wait = getattr(exc, "wait", None)
    return ApiError(exc.status_code, code, str(exc.detail), details=details, retry_after=wait)


def from_gateway_error(exc: GatewayError) -> ApiError:
    """A gateway refusal keeps its status, its code and when a retry can pass."""
    details = {k: v for k, v in exc.as_dict().items() if k not in ("code", "message")}
    return ApiError(exc.http_status, exc.code, exc.message, details=details, retry_after=exc.retry_after)


def _unavailable(exc: Exception) -> ApiError | None:
    """A backing service that is down answers 503 at once, in the error shape, with when to retry."""
    if isinstance(exc, QueueUnavailableError):
        if exc.run_id is None:
            return ApiError(503, "queue_unavailable", "The task queue is not answering.", retry_after=10)
        return ApiError(
            503,
            "queue_unavailable",
            "The generation was saved, but the task queue is not answering: it starts by itself once "
            "the queue is back. A retry with the same Idempotency-Key returns this generation.",
            details={"generation": exc.run_id, "status": "queued"},
            retry_after=10,
        )
    if isinstance(exc, RedisError):
        return ApiError(
            503, "service_unavailable", "A backing service is not answering; retry shortly.", retry_after=5
        )
    return None


def _bad_input(exc: Exception) -> ApiError | None:
    """Input refused before it reached a serializer (api/validation.py, api/pagination.py)."""
    if isinstance(exc, InvalidCursorError):
        return ApiError(400, "invalid_cursor", str(exc))
    if isinstance(exc, InvalidPageSizeError):
        return ApiError(400, "validation_error", str(exc), details={"page_size": [str(exc)]})
    if isinstance(exc, InvalidInput):
        return ApiError(400, str(exc.get_codes()), str(exc.detail), details={"field": exc.field})
    if isinstance(exc, RequestTooLarge | RequestDataTooBig):
        message = str(getattr(exc, "detail", "") or exc) or "The request body is too large."
        return ApiError(413, "request_too_large", message, details={"limit": max_body_bytes()})
    return None


def to_api_error(exc: Exception, view=None) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, GatewayError):
        return from_gateway_error(exc)
    if (unavailable := _unavailable(exc)) is not None:
        return unavailable
    if (bad_input := _bad_input(exc)) is not None:
        return bad_input
    if isinstance(exc, ReviewError):  # the action is valid but not possible in the draft's state
        return ApiError(409, "conflict", " ".join(exc.messages))
    if isinstance(exc, DjangoValidationError):
        # The request matched the schema (the serializer passed it) but breaks a rule the schema cannot
        # state: a duplicate name, an end before its start, an archived author. 400 is for what it can.
        details = _django_validation_details(exc)
        return ApiError(422, "validation_error", _message_of(details), details=details)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return ApiError(404, "not_found", "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return ApiError(403, "forbidden", str(exc) or "Not allowed.")
    if isinstance(exc, exceptions.APIException):
        return _from_drf(exc, view)
    return None


def error_response(error: ApiError, *, openai: bool = False) -> Response:
    body: dict[str, dict[str, Any]]
    if openai:
        body = {
            "error": {
                "message": error.message,
                "type": OPENAI_TYPES.get(error.status_code, "api_error"),
                "param": None,
                "code": error.code,
            }
        }
    else:
        body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="maestro"'
    return Response(body, status=error.status_code, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    view = context.get("view")
    error = to_api_error(exc, view)
    if error is None:
        return None  # a bug: Django answers 500 and logs it
    return error_response(error, openai=getattr(view, "openai_errors", False))
