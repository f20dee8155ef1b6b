"""Who is calling and for which tenant, resolved once per request.

Two ways in:
- `Authorization: Bearer mae_<prefix>_<secret>` (also `X-Api-Key`): a tenant API key. The key names
  the tenant; its scopes are what it may do; it acts as its own service user.
- A browser session (CSRF enforced): the tenant comes from the `X-Tenant: <slug>` header or the
  `?tenant=<slug>` query parameter and the user must be a member; scopes follow the member's role.

Both return `(user, Principal)`; `api.views.base.TenantScopedView` puts `principal.tenant` in scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from api.models import ApiKey
from api.permissions import scopes_for_role
from api.selectors import api_key_for_token
from api.services import TOKEN_PREFIX, api_key_touch
from tenants.models import Tenant, User
from tenants.selectors import membership_for


@dataclass(frozen=True)
class Principal:
    tenant: Tenant
    user: User  # the member, or the API key's service user
    scopes: frozenset[str]
    api_key: ApiKey | None = None

    @property
    def api_key_id(self) -> int | None:
        return self.api_key.pk if self.api_key else None


class TenantRequired(exceptions.APIException):
    status_code = 400
    default_detail = "Say which tenant: send the X-Tenant header or ?tenant=<slug>."
    default_code = "tenant_required"


def principal_of_key(key: ApiKey) -> Principal:
    """Who calls with this key: its tenant, its service user and its scopes."""
    return Principal(tenant=key.tenant, user=key.identity, scopes=frozenset(key.scopes), api_key=key)


def _token_from(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.META.get("HTTP_X_API_KEY") or None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, Principal] | None:
        token = _token_from(request)
        if token is None:
            return None
        key = api_key_for_token(token) if token.startswith(f"{TOKEN_PREFIX}_") else None
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_api_key")
        api_key_touch(key=key)
        principal = principal_of_key(key)
        return key.identity, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="maestro"'


class SessionTenantAuthentication(SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[User, Principal] | None:
        result = super().authenticate(request)  # enforces CSRF for logged-in users
        if result is None:
            return None
        user = result[0]
        slug = request.META.get("HTTP_X_TENANT") or request.query_params.get("tenant")
        if not slug:
            raise TenantRequired()
        tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
        membership = membership_for(user=user, tenant=tenant) if tenant else None
        if tenant is None or membership is None:  # the same answer for "no such tenant" and "not yours"
            raise exceptions.PermissionDenied("You are not a member of that tenant.")
        return user, Principal(tenant=tenant, user=user, scopes=scopes_for_role(membership.role))
