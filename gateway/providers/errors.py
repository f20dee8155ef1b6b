"""Turn provider failures (HTTP statuses, error bodies, transport errors) into `ProviderError` kinds.

OpenAI-compatible servers and Anthropic both answer errors as `{"error": {"type", "message", ...}}`
(OpenAI adds `code`; Ollama sends `{"error": "text"}`), so one reader serves both adapters.
Every message passes through `scrub` so that a key a provider echoes back never reaches logs or traces.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from gateway.providers.base import ErrorKind, ProviderError

MAX_MESSAGE_CHARS = 500

_CONTEXT_SIGNAL = re.compile(
    r"context[_ ]length|context[_ ]window|context size|maximum context|prompt is too long|exceed_context",
    re.IGNORECASE,
)
_REFUSAL_SIGNAL = re.compile(r"content[_ ]policy|content[_ ]filter|responsibleaipolicy", re.IGNORECASE)

# Mid-stream error events carry no HTTP status: read the status their type stands for.
_STATUS_OF_ERROR_TYPE = {
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "authentication_error": 401,
    "permission_error": 403,
    "invalid_request_error": 400,
    "not_found_error": 404,
    "request_too_large": 413,
}


@dataclass(frozen=True)
class ErrorDetail:
    """The fields of a provider's error body that say what went wrong."""

    type: str = ""
    code: str = ""
    message: str = ""

    @property
    def signals(self) -> str:
        return f"{self.type} {self.code} {self.message}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove credentials from text meant for logs, and bound its length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:MAX_MESSAGE_CHARS]


def kind_for(status: int, detail: ErrorDetail) -> ErrorKind:
    """Classify one error; the order matters (a 400 content-filter error is a refusal, not a bad request)."""
    if 400 <= status < 500 and _REFUSAL_SIGNAL.search(detail.signals):
        return ErrorKind.CONTENT_REFUSED
    if detail.code == "insufficient_quota":
        # OpenAI's 429 for an exhausted account: waiting will not help, another provider may.
        return ErrorKind.AUTH
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status in (503, 529) or "overloaded" in f"{detail.type} {detail.code}".lower():
        return ErrorKind.OVERLOADED
    if status >= 500:
        return ErrorKind.SERVER_ERROR
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 408:
        return ErrorKind.TIMEOUT
    if status in (400, 413, 422) and _CONTEXT_SIGNAL.search(detail.signals):
        return ErrorKind.CONTEXT_TOO_LONG
    return ErrorKind.BAD_REQUEST


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms` (OpenAI, precise) or `Retry-After` (seconds or HTTP-date)."""
    milliseconds = _finite_float(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return max(0.0, milliseconds / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _finite_float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def error_detail(payload: object) -> ErrorDetail:
    """Read `{"error": {...}}`, `{"error": "text"}` or anything else without failing."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, str):
        return ErrorDetail(message=error)
    if not isinstance(error, Mapping):
        return ErrorDetail(message=json.dumps(payload)[:MAX_MESSAGE_CHARS] if payload else "")
    code = error.get("code")
    return ErrorDetail(
        type=str(error.get("type") or ""),
        code=str(code) if code is not None else "",
        message=str(error.get("message") or ""),
    )


def error_from_response(response: httpx.Response, body: bytes, *, secrets: Iterable[str]) -> ProviderError:
    """The error for a non-2xx answer whose body has been read."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = {"error": body.decode("utf-8", "replace")}
    detail = error_detail(payload)
    kind = kind_for(response.status_code, detail)
    text = f"HTTP {response.status_code} {detail.type or detail.code}: {detail.message}".strip()
    return ProviderError(
        kind,
        scrub(text, secrets),
        status=response.status_code,
        retry_after=parse_retry_after(response.headers),
    )


def error_from_event(payload: object, *, secrets: Iterable[str], partial_text: str) -> ProviderError:
    """The error for an error event inside a 200 stream (Anthropic `event: error`, OpenAI `{"error"}`)."""
    detail = error_detail(payload)
    status = _STATUS_OF_ERROR_TYPE.get(detail.type) or _STATUS_OF_ERROR_TYPE.get(detail.code, 500)
    text = f"error event {detail.type or detail.code}: {detail.message}"
    return ProviderError(kind_for(status, detail), scrub(text, secrets), partial_text=partial_text)


def error_from_transport(
    exc: httpx.TransportError, *, secrets: Iterable[str], phase: str, partial_text: str = ""
) -> ProviderError:
    """Timeouts, refused or reset connections; a stream that breaks after it started is INTERRUPTED."""
    text = scrub(f"{phase}: {type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, httpx.TimeoutException):
        kind = ErrorKind.TIMEOUT
    elif isinstance(exc, httpx.UnsupportedProtocol):
        kind = ErrorKind.BAD_REQUEST  # a misconfigured base_url: retrying cannot help
    elif phase == "stream":
        kind = ErrorKind.STREAM_INTERRUPTED
    else:
        kind = ErrorKind.CONNECTION
    return ProviderError(kind, text, partial_text=partial_text)


def interrupted(partial_text: str, reason: str) -> ProviderError:
    return ProviderError(ErrorKind.STREAM_INTERRUPTED, reason, partial_text=partial_text)


def refused(partial_text: str, reason: str) -> ProviderError:
    return ProviderError(ErrorKind.CONTENT_REFUSED, reason, partial_text=partial_text)
