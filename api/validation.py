"""Bad input gets a clear error in the API's own shape, before anything is stored, charged or sent.

/api/v1 and /v1 are DRF views, so one parser serves every API body (`REST_FRAMEWORK`'s
`DEFAULT_PARSER_CLASSES`), one middleware guards the edge, and `api.views.base.body_of` checks what a
view goes on with:

- a body larger than `MAESTRO_API_MAX_BODY_BYTES` answers 413 (`request_too_large`) before it is read;
- JSON nested deeper than `common.text.MAX_DEPTH` answers 400 (`nested_too_deeply`), without a
  `RecursionError`, before anything recursive walks it;
- a value of another JSON type than the schema states answers 400 (DRF alone would read 5 as "5");
- text PostgreSQL cannot store (a NUL character, a lone surrogate), anywhere in what the serializer
  accepted, answers 400 (`invalid_text`) naming the field: a prompt holding it would otherwise have
  been paid for at the provider and then failed to be traced (common/text.py says why).
- a URL under the APIs that no view matches answers a JSON 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from rest_framework import serializers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.fields import _UnvalidatedField  # DRF's child of a DictField/ListField of anything
from rest_framework.parsers import JSONParser

from common.text import MAX_DEPTH, find_problem, sanitise_value, too_deep

API_PREFIXES = ("/api/v1/", "/v1/")
DEFAULT_MAX_BODY_BYTES = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE default (2.5 MiB)


def max_body_bytes() -> int:
    return int(getattr(settings, "MAESTRO_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


class RequestTooLarge(APIException):
    status_code = 413
    default_code = "request_too_large"


class InvalidInput(APIException):
    status_code = 400
    default_code = "invalid_text"

    def __init__(self, message: str, *, code: str, field: str) -> None:
        super().__init__(message, code=code)
        self.field = field


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit:,} bytes; send less at once."


def check_value(value: Any) -> None:
    """Refuse text that cannot be stored and nesting past the limit (InvalidInput, a 400)."""
    problem = find_problem(value, max_depth=MAX_DEPTH)
    if problem is None:
        return
    where = problem.path or "the body"
    code = "nested_too_deeply" if "nested" in problem.reason else "invalid_text"
    raise InvalidInput(f"{where} {problem.reason}.", code=code, field=problem.path)


# ---- JSON types as the schema states them ------------------------------------------------------------

STRING_FIELDS = (
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateTimeField,
    serializers.DateField,
    serializers.DecimalField,  # documented as a string (COERCE_DECIMAL_TO_STRING)
)


def _expected(field: serializers.Field) -> tuple[type, ...] | None:
    """The JSON types a field's schema allows, or None when the field checks its own input."""
    if isinstance(field, serializers.MultipleChoiceField):
        return (list,)
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.IntegerField):
        return (int,)
    if isinstance(field, serializers.FloatField):
        return (int, float)
    if isinstance(field, serializers.ChoiceField):
        return tuple({type(choice) for choice in field.choices}) or (str,)
    if isinstance(field, STRING_FIELDS):
        return (str,)
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return (list,)
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,)
    return None


def json_type_errors(field: serializers.Field, value: Any) -> Any:
    """Errors for values whose JSON type is not the one documented: DRF would turn 5 into "5" or
    "true" into True, and a client relying on that relies on something the schema does not say."""
    if value is None:
        return None  # DRF itself says whether null is allowed
    expected = _expected(field)
    if expected is not None and (
        not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)
    ):
        names = " or ".join(sorted({_JSON_NAMES.get(kind, kind.__name__) for kind in expected}))
        return [f"Must be {names}."]
    if isinstance(field, serializers.ListSerializer | serializers.ListField) and isinstance(value, list):
        child = field.child
        if child is None:
            return None
        items = {i: e for i, item in enumerate(value) if (e := json_type_errors(child, item))}
        return items or None
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        entries = {k: e for k, item in value.items() if (e := json_type_errors(field.child, item))}
        return entries or None
    if isinstance(field, serializers.Serializer) and isinstance(value, dict):
        errors = {
            name: e
            for name, child in field.fields.items()
            if not child.read_only and name in value and (e := json_type_errors(child, value[name]))
        }
        return errors or None
    return None


def _free_form(field: serializers.Field) -> bool:
    """A field whose content the schema leaves open (any JSON): no rule for its text can be stated."""
    if isinstance(field, serializers.JSONField):
        return True
    child = getattr(field, "child", None)
    if isinstance(field, serializers.DictField | serializers.ListField) and child is not None:
        return isinstance(child, _UnvalidatedField) or _free_form(child)
    return False


def clean_free_form(serializer: serializers.Serializer, data: Any) -> Any:
    """`data` with the text inside free-form fields made storable (common/text.py); every field with a
    stated type keeps its text as sent, for DRF and `check_value` to refuse."""
    if not isinstance(data, dict):
        return data
    cleaned = dict(data)
    for name, field in serializer.fields.items():
        if name not in cleaned or field.read_only:
            continue
        if _free_form(field):
            cleaned[name] = sanitise_value(cleaned[name])
        elif isinstance(field, serializers.Serializer):
            cleaned[name] = clean_free_form(field, cleaned[name])
        elif isinstance(field, serializers.ListSerializer) and isinstance(cleaned[name], list):
            child = field.child
            if isinstance(child, serializers.Serializer):
                cleaned[name] = [clean_free_form(child, item) for item in cleaned[name]]
    return cleaned


_JSON_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


class SafeJSONParser(JSONParser):
    """JSON with a size limit, no recursion on depth, and text PostgreSQL and providers can take."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"The body is not valid {encoding} text.") from exc
        try:
            value = json.loads(text)
        except RecursionError as exc:  # deeper than the decoder's stack: far past the limit
            raise InvalidInput(
                f"The body is nested more than {MAX_DEPTH} levels deep.", code="nested_too_deeply", field=""
            ) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if too_deep(value, max_depth=MAX_DEPTH):  # before anything recursive walks it
            raise InvalidInput(
                f"The body is nested more than {MAX_DEPTH} levels deep.", code="nested_too_deeply", field=""
            )
        return value


def _declared_too_large(request: HttpRequest) -> JsonResponse | None:
    if not request.path.startswith(API_PREFIXES):
        return None
    limit = max_body_bytes()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return too_large_response(request.path, limit) if length > limit else None


def _json_not_found(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A URL under the APIs that no view matched answers 404 in the API's error shape, not Django's page."""
    if response.status_code != 404 or not request.path.startswith(API_PREFIXES):
        return response
    if response.get("Content-Type", "").startswith("application/json"):
        return response
    message = "There is no such URL in the API; see /api/docs/."
    body: dict[str, Any]
    if request.path.startswith("/v1/"):
        body = {"error": {"message": message, "type": "not_found_error", "param": None, "code": "not_found"}}
    else:
        body = {"error": {"code": "not_found", "message": message, "details": {}}}
    return JsonResponse(body, status=404)


@sync_and_async_middleware
def api_edge_middleware(get_response: Callable) -> Callable:
    """The APIs' edge: a body whose declared length is over the limit answers 413 before any part of
    Django reads it (the parser also stops a body without a length at the limit), and a URL no view
    matches answers 404, both in the API's error shape. Async and sync, so an async view pays no
    thread hop for it."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            refused = _declared_too_large(request)
            if refused is not None:
                return refused
            return _json_not_found(request, await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        refused = _declared_too_large(request)
        return refused if refused is not None else _json_not_found(request, get_response(request))

    return middleware


def too_large_response(path: str, limit: int) -> JsonResponse:
    message = too_large_message(limit)
    if path.startswith("/v1/"):
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "request_too_large",
            }
        }
    else:
        body = {"error": {"code": "request_too_large", "message": message, "details": {"limit": limit}}}  # type: ignore[dict-item]  # one JSON shape, two dict literals
    response = JsonResponse(body, status=413)
    response["Connection"] = "close"  # the unread body must not be taken for the next request
    return response
