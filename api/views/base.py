"""The base of every tenant API view: the tenant is put in scope once, right after authentication,
before any permission check or queryset, and reset in a `finally` when the view returns.

DRF authenticates lazily inside `dispatch`, so the scope cannot be entered by a middleware without
authenticating twice; instead `perform_authentication` (the first step of `initial`) enters it on an
`ExitStack` that `dispatch` closes. Exception handling and `finalize_response` run inside the scope;
response rendering runs after it, on data that is already plain Python. A streaming body runs after
it too, so it must not touch tenant-owned tables (see api/views/openai.py).
"""

from __future__ import annotations

from contextlib import ExitStack

from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication, Principal, SessionTenantAuthentication
from api.pagination import Cursor
from api.permissions import HasScope
from api.throttling import ApiKeyRateThrottle
from api.validation import check_value, clean_free_form, json_type_errors
from common.text import sanitise_keys
from tenants.context import tenant_scope


class TenantScopedView(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionTenantAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class: type[BasePagination] | None = Cursor
    required_scopes: dict[str, str] = {}
    openai_errors = False

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as scope:
            self._scope = scope
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        # A method the view does not map is 405 whoever asks, before authentication and scopes (which
        # would answer 401 or 403 about something that does not exist).
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        self._scope.enter_context(tenant_scope(principal_of(request).tenant))

    @property
    def principal(self) -> Principal:
        return principal_of(self.request)


def principal_of(request: Request) -> Principal:
    """Who is calling: what `api.authentication` put in `request.auth`, or 401."""
    principal = request.auth
    if not isinstance(principal, Principal):
        raise exceptions.NotAuthenticated("Send an API key: Authorization: Bearer mae_...")
    return principal


def query_of(serializer_class, request) -> dict:
    """Validated query parameters (400 with details when they are not). Read as JSON would be: an
    empty value is a value (not "absent", as DRF reads forms), and a parameter given twice is refused."""
    query = serializer_class(data=single_values(request.query_params, serializer_class().fields))
    query.is_valid(raise_exception=True)
    check_value(dict(query.validated_data))
    return dict(query.validated_data)


def single_values(params, names) -> dict[str, str]:
    repeated = sorted(name for name in names if len(params.getlist(name)) > 1)
    if repeated:
        raise exceptions.ValidationError({name: ["Give this parameter once."] for name in repeated})
    return {name: params[name] for name in names if name in params}


def body_of(serializer_class, request) -> dict:
    """The validated body: the JSON types the schema states (no "5" for 5, no 0 for "0"), and text
    that can be stored and sent (api/validation.py): what the view goes on with is checked once."""
    data = request.data
    type_errors = json_type_errors(serializer_class(), data)
    if type_errors:
        raise exceptions.ValidationError(type_errors)
    # Free-form JSON (no type the schema could state a rule for) is cleaned; typed text is refused.
    serializer = serializer_class(data=clean_free_form(serializer_class(), data))
    serializer.is_valid(raise_exception=True)
    validated = sanitise_keys(dict(serializer.validated_data))  # keys of free-form objects, likewise
    check_value(validated)
    return validated  # type: ignore[return-value]  # a dict in, a dict out
