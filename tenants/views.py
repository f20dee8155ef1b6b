"""Browser pages of the tenant shell: home, dashboard, members. Thin: parse, call, render."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_http_methods, require_POST

from common.forms import add_validation_errors
from tenants import selectors, services
from tenants.access import tenant_view
from tenants.forms import MemberAddForm, MemberRoleForm
from tenants.http import LoggedInRequest, TenantRequest
from tenants.models import Membership, Tenant
from tenants.roles import Permission

logger = logging.getLogger(__name__)


@login_required
def home(request: LoggedInRequest) -> HttpResponse:
    memberships = list(selectors.memberships_of_user(user=request.user))
    last = request.session.get("last_tenant")
    for membership in memberships:
        if membership.tenant.slug == last:
            return redirect("tenants:dashboard", tenant_slug=last)
    if memberships:
        return redirect("tenants:dashboard", tenant_slug=memberships[0].tenant.slug)
    return render(request, "tenants/no_tenant.html")


@tenant_view()
def dashboard(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    request.session["last_tenant"] = tenant_slug
    context = {"member_count": selectors.tenant_members().count()}
    return render(request, "tenants/dashboard.html", context)


@tenant_view(write=Permission.MANAGE_TENANT)
@require_http_methods(["GET", "POST"])
def members(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.member_add(tenant=request.tenant, request=request, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"{membership.user.email} added as {membership.get_role_display()}.")
            return redirect("tenants:members", tenant_slug=tenant_slug)
    context = {"members": selectors.tenant_members(), "form": form, "role_form": MemberRoleForm()}
    return render(request, "tenants/members.html", context)


@tenant_view(write=Permission.MANAGE_TENANT)
@require_POST
def member_role(request: TenantRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    else:
        try:
            services.member_change_role(membership=membership, role=form.cleaned_data["role"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    if request.htmx:
        context = {"membership": membership, "role_form": MemberRoleForm()}
        return render(request, "tenants/members.html#member-row", context)
    return redirect("tenants:members", tenant_slug=tenant_slug)


@tenant_view(write=Permission.MANAGE_TENANT)
@require_POST
def member_remove(request: TenantRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    try:
        services.member_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.email} was removed.")
    return redirect("tenants:members", tenant_slug=tenant_slug)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 403 page (`handler403`): inside a tenant it keeps the tenant's navigation and says which role
    the member has. A refusal is an expected answer, so it is logged as one line, not a traceback."""
    tenant, membership = _tenant_of(request)
    if tenant is not None:
        request.tenant, request.membership = tenant, membership  # type: ignore[attr-defined]  # read by the tenancy context processor
    response = render(request, "403.html", {"reason": str(exception or "")}, status=403)
    logger.info(
        "Forbidden: %s %s for %s (role %s)",
        request.method,
        request.path,
        getattr(request.user, "email", "anonymous"),
        membership.role if membership else "-",
    )
    # Django would log the PermissionDenied again with its traceback (django.utils.log.log_response).
    response._has_been_logged = True  # type: ignore[attr-defined]  # the flag log_response checks
    return response


def _tenant_of(request: HttpRequest) -> tuple[Tenant | None, Membership | None]:
    try:
        slug = resolve(request.path_info).kwargs.get("tenant_slug")
    except Resolver404:
        return None, None
    tenant = Tenant.objects.filter(slug=slug, is_active=True).first() if slug else None
    user = getattr(request, "user", None)
    membership = selectors.membership_for(user=user, tenant=tenant) if tenant and user else None
    return (tenant, membership) if membership is not None else (None, None)
