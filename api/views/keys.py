"""Browser pages where tenant admins create API keys (the token is shown once) and revoke them."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import selectors, services
from api.forms import ApiKeyForm
from common.forms import add_validation_errors
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.roles import Permission


@tenant_view(read=Permission.MANAGE_TENANT, write=Permission.MANAGE_TENANT)
@require_http_methods(["GET", "POST"])
def api_keys(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_key_create(created_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            form = ApiKeyForm()
    context = {"keys": selectors.api_keys(), "form": form, "created": created}
    response = render(request, "api/keys.html", context)
    response["Cache-Control"] = "no-store"  # the page may carry a token that is shown once
    return response


@tenant_view(read=Permission.MANAGE_TENANT, write=Permission.MANAGE_TENANT)
@require_POST
def api_key_revoke(request: TenantRequest, tenant_slug: str, api_key_id: int) -> HttpResponse:
    key = selectors.access_api_key(api_key_id=api_key_id)
    services.api_key_revoke(key=key)
    messages.success(request, f"Key {key.name} revoked: it stops working at once.")
    return redirect("api_keys:list", tenant_slug=tenant_slug)
