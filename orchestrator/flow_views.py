"""The editor's flow pages: list flows, create and edit them (JSON in a textarea, checked on the server
and shown inline with htmx), versions with a diff, activate or roll back, dry runs, and the secrets
HTTP steps use. Everyone reads; editors change. Thin: each view calls one service or selector."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.forms import add_validation_errors
from orchestrator import selectors
from orchestrator.flows.definitions import STEP_FIELDS
from orchestrator.flows.dry_run import flow_dry_run
from orchestrator.flows.editing import (
    flow_definition_activate,
    flow_definition_check,
    flow_definition_save,
    flow_secret_delete,
    flow_secret_set,
)
from orchestrator.forms import DryRunForm, FlowDefinitionForm, FlowSecretForm, steps_as_text
from orchestrator.models import FlowDefinition
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.roles import Permission

STEP_TYPES = sorted(STEP_FIELDS.items())


def _flow_url(tenant_slug: str, definition: FlowDefinition) -> str:
    return reverse("orchestrator:flow", kwargs={"tenant_slug": tenant_slug, "flow_id": definition.pk})


@tenant_view()
@require_GET
def flow_list(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return render(request, "orchestrator/flows.html", _list_context(FlowSecretForm()))


def _list_context(secret_form: FlowSecretForm) -> dict:
    return {
        "flows": selectors.flow_overview(),
        "secrets": selectors.flow_secrets(),
        "secret_form": secret_form,
    }


# ---- the editor -------------------------------------------------------------------------------------


def _editor(
    request: TenantRequest, tenant_slug: str, *, base: FlowDefinition | None, template: str
) -> HttpResponse:
    """Create a flow (no `base`) or save a new version of `base`'s flow. With htmx, errors come back
    as the editor fragment and success as a redirect to the new version."""
    fixed_name = base.name if base else None
    initial = {"description": base.description, "steps": steps_as_text(base.steps)} if base else {}
    form = FlowDefinitionForm(request.POST or None, initial=initial, fixed_name=fixed_name)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            definition = flow_definition_save(
                name=data["name"],
                steps=data["steps"],
                description=data["description"],
                activate="activate" in request.POST,
                created_by=request.user,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            live = " It is live now." if definition.is_active else " Dry-run it, then make it live."
            messages.success(request, f"Saved {definition.name} v{definition.version}.{live}")
            url = _flow_url(tenant_slug, definition)
            return HttpResponse(headers={"HX-Redirect": url}) if request.htmx else redirect(url)
    context = {"form": form, "base": base, "step_types": STEP_TYPES}
    if request.htmx:
        return render(request, f"{template}#editor", context)
    return render(request, template, context, status=400 if form.errors else 200)


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def flow_create(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return _editor(request, tenant_slug, base=None, template="orchestrator/flow_edit.html")


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def flow_edit(request: TenantRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    base = selectors.access_flow_definition(definition_id=flow_id)
    return _editor(request, tenant_slug, base=base, template="orchestrator/flow_edit.html")


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_POST
def flow_check(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """Check the editor's text without saving it: the problems, or how many steps are fine."""
    form = FlowDefinitionForm(request.POST)
    problems: list[str] = []
    count = 0
    if form.is_valid():
        try:
            count = len(
                flow_definition_check(name=form.cleaned_data["name"], steps=form.cleaned_data["steps"])
            )
        except ValidationError as exc:
            problems = _problems(exc.message_dict)
    else:
        problems = _problems(form.errors)
    return render(request, "orchestrator/flow_edit.html#check", {"problems": problems, "count": count})


def _problems(errors: Mapping[str, Iterable[object]]) -> list[str]:
    """Step messages as they are (they name the step); others prefixed with their field."""
    return [
        str(message) if field == "steps" else f"{field}: {message}"
        for field, found in errors.items()
        for message in found
    ]


# ---- one version ------------------------------------------------------------------------------------


def _version_page(
    request: TenantRequest, definition: FlowDefinition, *, status: int = 200, **extra: object
) -> HttpResponse:
    versions = selectors.flow_versions(name=definition.name)
    previous = next((v for v in versions if v.version < definition.version), None)
    context = {
        "definition": definition,
        "current": next((v for v in versions if v.pk == definition.pk), definition),
        "versions": versions,
        "previous": previous,
        "steps_text": steps_as_text(definition.steps),
        "dry_run_form": DryRunForm(),
        **extra,
    }
    return render(request, "orchestrator/flow.html", context, status=status)


@tenant_view()
@require_GET
def flow_detail(request: TenantRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    return _version_page(request, selectors.access_flow_definition(definition_id=flow_id))


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def flow_activate(request: TenantRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    definition = selectors.access_flow_definition(definition_id=flow_id)
    live = flow_definition_activate(definition=definition, actor=request.user)
    messages.success(request, f"{live.name} v{live.version} is live: new runs start it.")
    return redirect(_flow_url(tenant_slug, live))


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def flow_dry_run_view(request: TenantRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    definition = selectors.access_flow_definition(definition_id=flow_id)
    form = DryRunForm(request.POST)
    result = None
    if form.is_valid():
        try:
            result = flow_dry_run(
                definition=definition, author=form.cleaned_data["author"], brief=form.cleaned_data["brief"]
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
    if request.htmx:
        context = {"definition": definition, "dry_run_form": form, "result": result}
        return render(request, "orchestrator/flow.html#dry-run", context)
    return _version_page(request, definition, status=200 if result else 400, dry_run_form=form, result=result)


@tenant_view()
@require_GET
def flow_diff(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """Two versions the tenant sees (?a=<id>&b=<id>), e.g. its own copy against Maestro's."""
    try:
        old_id, new_id = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        raise Http404("Choose two versions to compare.") from None
    old = selectors.access_flow_definition(definition_id=old_id)
    new = selectors.access_flow_definition(definition_id=new_id)
    context = {
        "old": old,
        "new": new,
        "lines": selectors.flow_version_diff(old, new),
        "versions": selectors.flow_versions(name=new.name),
    }
    template = "orchestrator/flow_diff.html#diff" if request.htmx else "orchestrator/flow_diff.html"
    return render(request, template, context)


# ---- secrets ------------------------------------------------------------------------------------------


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def flow_secrets(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """Set or replace a secret (`name`, `value`; an empty value generates one), or `delete` one."""
    back = reverse("orchestrator:flow_list", kwargs={"tenant_slug": tenant_slug})
    if "delete" in request.POST:
        secret = selectors.access_flow_secret(name=request.POST["delete"])
        flow_secret_delete(secret=secret, actor=request.user)
        messages.success(request, f"Secret {secret.name} deleted: steps that name it fail until it is set.")
        return redirect(back)
    form = FlowSecretForm(request.POST)
    if form.is_valid():
        try:
            secret, generated = flow_secret_set(
                name=form.cleaned_data["name"], value=form.cleaned_data["value"], actor=request.user
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            if not generated:
                messages.success(request, f"Secret {secret.name} saved ({secret.mask}).")
                return redirect(back)
            # Shown on this page once, never stored elsewhere (not in a message: those live in a cookie).
            context = {
                **_list_context(FlowSecretForm()),
                "generated": {"name": secret.name, "value": generated},
            }
            return render(request, "orchestrator/flows.html", context)
    return render(request, "orchestrator/flows.html", _list_context(form), status=400)
