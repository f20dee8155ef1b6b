"""Browser pages of the tenant shell: home, dashboard, members. Thin: parse, call, render."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_http_methods, require_POST

from common.forms import add_validation_errors
from tenants import selectors, services
from tenants.access import tenant_view
from tenants.forms import InvitationAcceptForm, MemberAddForm, MemberRoleForm
from tenants.http import LoggedInRequest, TenantRequest
from tenants.models import Invitation, Membership, Tenant
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
            invitation = services.invitation_create(
                tenant=request.tenant,
                invited_by=request.user,
                base_url=_base_url(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"{invitation.email} is invited as {invitation.get_role_display()}.")
            return redirect("tenants:members", tenant_slug=tenant_slug)
    context = {
        "members": selectors.tenant_members(),
        "invitations": selectors.pending_invitations(),
        "form": form,
        "role_form": MemberRoleForm(),
        "invitation_days": settings.MAESTRO_INVITATION_DAYS,
    }
    return render(request, "tenants/members.html", context)


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _pending_invitation(invitation_id: int) -> Invitation:
    try:
        return selectors.access_invitation(invitation_id=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise Http404("No such invitation.") from exc


@tenant_view(write=Permission.MANAGE_TENANT)
@require_POST
def invitation_resend(request: TenantRequest, tenant_slug: str, invitation_id: int) -> HttpResponse:
    invitation = _pending_invitation(invitation_id)
    try:
        services.invitation_resend(invitation=invitation, actor=request.user, base_url=_base_url(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"A new invitation went to {invitation.email}; the earlier link no longer works."
        )
    return redirect("tenants:members", tenant_slug=tenant_slug)


@tenant_view(write=Permission.MANAGE_TENANT)
@require_POST
def invitation_revoke(request: TenantRequest, tenant_slug: str, invitation_id: int) -> HttpResponse:
    invitation = _pending_invitation(invitation_id)
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The invitation of {invitation.email} is revoked.")
    return redirect("tenants:members", tenant_slug=tenant_slug)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link, outside any tenant and without a login: the token is the credential."""
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None or invitation.state != "pending":
        state = invitation.state if invitation else "unknown"
        reason = services.INVITATION_REFUSALS.get(state, "This invitation link is not valid.")
        return render(
            request, "tenants/invitation.html", {"refusal": reason}, status=404 if invitation is None else 410
        )
    existing = selectors.account_exists(email=invitation.email)
    form = None if existing else InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and (form is None or form.is_valid()):
        password = form.cleaned_data["password"] if form is not None else None
        try:
            membership = services.invitation_accept(token=token, password=password)
        except ValidationError as exc:
            if form is None:
                return render(
                    request, "tenants/invitation.html", {"refusal": " ".join(exc.messages)}, status=410
                )
            add_validation_errors(form, exc)
        else:
            return _after_joining(request, membership=membership, new_account=not existing)
    context = {"invitation": invitation, "form": form}
    return render(request, "tenants/invitation.html", context)


def _after_joining(request: HttpRequest, *, membership: Membership, new_account: bool) -> HttpResponse:
    dashboard = reverse("tenants:dashboard", kwargs={"tenant_slug": membership.tenant.slug})
    if new_account:  # they just chose this account's password: no need to type it again
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(dashboard)
    messages.success(request, f"You joined {membership.tenant.name}.")
    if request.user.is_authenticated and request.user.pk == membership.user_id:
        return redirect(dashboard)
    return redirect(f"{reverse('login')}?next={dashboard}")


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
