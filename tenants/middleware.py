"""Resolves the tenant of every `/t/<tenant_slug>/...` request, once, at the edge.

Non-members get 404 (a tenant's existence is not disclosed), members whose role
lacks the view's declared permission get 403. The tenant is put in scope for the
whole request and reset afterwards, even on errors.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import Resolver404, resolve

from tenants.access import SAFE_METHODS, rules_of
from tenants.context import tenant_scope
from tenants.http import MaestroRequest
from tenants.models import Tenant
from tenants.roles import role_allows
from tenants.selectors import membership_for

TENANT_KWARG = "tenant_slug"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: MaestroRequest) -> HttpResponse:
        request.tenant = None
        request.membership = None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        slug = match.kwargs.get(TENANT_KWARG)
        if slug is None:
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
        membership = membership_for(user=request.user, tenant=tenant) if tenant is not None else None
        if tenant is None or membership is None:
            raise Http404("No such tenant")
        rules = rules_of(match.func)
        if rules is None:
            raise ImproperlyConfigured(f"Tenant view {match.view_name} is not declared with @tenant_view")
        permission = rules.permission_for(request.method or "GET")
        if permission is None:  # the view takes no writes at all, whoever asks
            return HttpResponseNotAllowed(sorted(SAFE_METHODS))
        if not role_allows(membership.role, permission):
            raise PermissionDenied("Your role in this tenant does not allow this.")
        request.tenant = tenant
        request.membership = membership
        with tenant_scope(tenant):
            return self.get_response(request)
