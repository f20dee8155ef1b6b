"""Retention, erasure and export pages for admins (docs/privacy-data.md)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.selectors import audit_events
from common.forms import add_validation_errors
from console.views._common import admin_view
from privacy import selectors, services
from privacy.forms import AuthorEraseForm, ExportForm, RetentionPolicyForm, TenantEraseForm
from tenants.http import TenantRequest


@admin_view
@require_http_methods(["GET", "POST"])
def retention(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = RetentionPolicyForm(request.POST or None, instance=services.retention_policy_of())
    if request.method == "POST" and form.is_valid():
        try:
            services.retention_policy_save(policy=form.instance, actor=request.user)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, "Retention policy saved; the daily run applies it.")
            return redirect("console:retention", tenant_slug=tenant_slug)
    context = {
        "form": form,
        "reports": selectors.retention_reports(),
        "preview": services.retention_preview(),
    }
    return render(request, "privacy/retention.html", context)


@admin_view
@require_POST
def retention_run(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    report = services.retention_apply(tenant=request.tenant, manual=True)
    messages.success(request, f"Retention applied: {report.total} rows removed or blanked.")
    return redirect("console:retention", tenant_slug=tenant_slug)


@admin_view
@require_http_methods(["GET", "POST"])
def erasure(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = AuthorEraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.author_erase(author_id=form.cleaned_data["author"], actor=request.user)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"{report.subject_label} erased: {report.total} rows removed.")
            for note in report.notes:  # e.g. LinkedIn could not revoke a token yet (retried)
                messages.warning(request, note)
            return redirect("console:erasure", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return _erasure_page(
        request, author_form=form, tenant_form=TenantEraseForm(tenant=request.tenant), status=status
    )


@admin_view
@require_POST
def tenant_erasure(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = TenantEraseForm(request.POST, tenant=request.tenant)
    if form.is_valid():
        try:
            report = services.tenant_erase(tenant_id=request.tenant.pk, actor=request.user)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            logout(request)  # the account may have gone with the tenant
            messages.success(request, f"{report.subject_label} erased: {report.total} rows removed.")
            for note in report.notes:
                messages.warning(request, note)
            return redirect("login")
    return _erasure_page(request, author_form=AuthorEraseForm(), tenant_form=form, status=400)


def _erasure_page(request: TenantRequest, *, author_form, tenant_form, status: int) -> HttpResponse:
    context = {"author_form": author_form, "tenant_form": tenant_form, "reports": selectors.erasure_reports()}
    return render(request, "privacy/erasure.html", context, status=status)


@admin_view
@require_http_methods(["GET", "POST"])
def export(request: TenantRequest, tenant_slug: str) -> HttpResponseBase:
    """POST builds the ZIP and sends it (the export is audited); GET shows the choice."""
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        built = services.export_build(actor=request.user, author_id=form.cleaned_data["author"])
        return FileResponse(
            built.file, as_attachment=True, filename=built.filename, content_type="application/zip"
        )
    context = {"form": form, "exports": audit_events(action="export.")[:20]}
    return render(request, "privacy/export.html", context, status=400 if request.method == "POST" else 200)
