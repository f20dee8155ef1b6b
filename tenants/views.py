"""Browser pages of the tenant shell: home, dashboard, members. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.forms import add_validation_errors
from tenants import selectors, services
from tenants.access import tenant_view
from tenants.forms import MemberAddForm, MemberRoleForm
from tenants.http import LoggedInRequest, TenantRequest
from tenants.models import Membership
from tenants.roles import Permission


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
