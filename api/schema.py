"""How drf-spectacular describes the API: its two ways in (loaded by ApiConfig.ready), the errors every
operation can answer, and the input rules DRF enforces that drf-spectacular leaves out, so that the
schema says exactly what the API accepts (schemathesis checks both ways: api/tests/test_schema.py)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "mae_<prefix>_<secret>"}


class SessionTenantScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.SessionTenantAuthentication"
    name = "Session"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A browser session; say the tenant with the X-Tenant header or ?tenant=<slug>.",
        }


# ---- errors: every operation documents the 4xx (and 5xx) it can answer, in the one error shape -----

REST_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
OPENAI_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until a retry can pass."}
}

ERROR_MEANINGS = {
    "400": "Invalid input: a field, a query parameter, a forged cursor, text with NUL or a lone surrogate, "
    "or JSON nested too deeply (the message and `details` say which).",
    "401": "No API key, or an invalid or revoked one.",
    "403": "The key lacks the scope this needs (`details.required_scope`), or the session user's role does.",
    "404": "Not found (or another tenant's).",
    "405": "The method is not one this URL takes (`Allow` lists those it does).",
    "406": "The `Accept` header asks for a format the API does not answer in (JSON).",
    "409": "The action is valid but not in the object's current state.",
    "413": "The request body is larger than the limit.",
    "415": "The body is not JSON.",
    "422": "Understood but refused: an Idempotency-Key reused for another request, or (model calls) the "
    "provider refused the content.",
    "429": "A rate limit; `Retry-After` says when to try again.",
    "503": "A backing service (the task queue, Redis) is not answering; what was saved is kept. "
    "`Retry-After` says when to try again.",
}
# What only model calls answer (/v1): budgets, the providers' own failures and the call's deadline.
MODEL_CALL_MEANINGS = {
    "402": "A budget is used up; the message says which and when it resets.",
    "502": "The model provider failed.",
    "503": "No model can take the call now, or a backing service is not answering.",
    "504": "The call reached its deadline.",
}
WRITES_ONLY = {"409", "413", "415", "422"}


def _error_response(description: str, component: str, status: str) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": component}}},
    }
    if status in ("429", "503"):
        response["headers"] = RETRY_AFTER
    return response


def document_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = REST_ERROR
    schemas["OpenAIError"] = OPENAI_ERROR
    for path, operations in result.get("paths", {}).items():
        model_call = path.startswith("/v1/")
        component = "#/components/schemas/OpenAIError" if model_call else "#/components/schemas/Error"
        meanings = {**ERROR_MEANINGS, **(MODEL_CALL_MEANINGS if path == "/v1/chat/completions" else {})}
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            writes = method in ("post", "put", "patch")
            for status, meaning in meanings.items():
                if status in WRITES_ONLY and not writes:
                    continue
                responses.setdefault(status, _error_response(meaning, component, status))
            _forbid_unstorable_text(operation)
    chat = result.get("paths", {}).get("/v1/chat/completions", {}).get("post")
    if chat and "200" in chat.get("responses", {}):  # `"stream": true` answers server-sent events
        content = chat["responses"]["200"].setdefault("content", {})
        content.setdefault("text/event-stream", {"schema": {"type": "string"}})
    return result


# ---- text the API refuses, said in the schema (api/validation.py) ---------------------------------------

NO_NUL = "^[^\\u0000]*$"
# DRF trims a CharField and then refuses it blank: "  " is as empty as "".
NOT_BLANK_NO_NUL = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


class MaestroAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus what DRF checks on input that it does not state."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not isinstance(schema, dict):
            return schema
        if isinstance(field, serializers.ListSerializer | serializers.ListField) and not field.allow_empty:
            schema.setdefault("minItems", 1)
        if (
            isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not field.allow_blank
            and field.trim_whitespace
            and "pattern" not in schema
            and "format" not in schema
            and not any(isinstance(v, RegexValidator) for v in field.validators)  # a slug says its own
        ):
            schema["pattern"] = NOT_BLANK_NO_NUL
        return schema


def _forbid_unstorable_text(operation: dict) -> None:
    for parameter in operation.get("parameters", []):
        _strings_without_nul(parameter.get("schema", {}))


def strings_without_nul(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: request-side string schemas say that NUL is refused (a 400)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: what clients send
            _strings_without_nul(schema)
    return result


def _strings_without_nul(schema: dict) -> None:
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or "$ref" in node:
            continue
        if node.get("type") == "string" and "enum" not in node and "format" not in node:
            node.setdefault("pattern", NO_NUL)
        stack.extend((node.get("properties") or {}).values())
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in ("oneOf", "anyOf", "allOf"):
            stack.extend(node.get(key) or [])
