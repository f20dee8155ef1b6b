"""API test data: keys made through the service, inside their tenant's scope."""

from __future__ import annotations

from api.models import Scope
from api.services import CreatedKey, api_key_create
from tenants.context import tenant_scope

ALL_SCOPES = list(Scope.values)


def make_created_key(*, tenant, scopes: list[str] | None = None, **fields) -> CreatedKey:
    fields.setdefault("name", "CRM")
    with tenant_scope(tenant):
        return api_key_create(scopes=scopes or ALL_SCOPES, created_by=None, **fields)


def make_api_key(*, tenant, **fields):
    return make_created_key(tenant=tenant, **fields).key


def error_of(response) -> dict:
    """The body of an API refusal, checked to be the common error shape (docs/api.md)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]
