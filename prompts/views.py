"""Editors' pages for the prompt library. Thin: parse, call one service or selector, render.

Everyone in the tenant reads; editors and admins (EDIT_CONTENT) save versions, move labels and run
experiments. Pages of one object take their changes by POST on the same URL.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.forms import add_validation_errors
from prompts import selectors, services
from prompts.diffing import version_diff
from prompts.forms import ExperimentForm, LabelMoveForm, MessageFormSet, VersionForm
from prompts.models import PRODUCTION, PromptTemplate, PromptVersion
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.roles import Permission


@tenant_view()
@require_GET
def library(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return render(request, "prompts/library.html", {"entries": selectors.prompt_library()})


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def template_detail(request: TenantRequest, tenant_slug: str, prompt_id: int) -> HttpResponse:
    """The template's versions, labels and history; POST moves a label (production back = rollback)."""
    template = selectors.access_prompt_template(template_id=prompt_id)
    versions = list(selectors.template_versions(template=template))
    form = LabelMoveForm(request.POST or None, versions=versions)
    if request.method == "POST" and form.is_valid():
        version = next(v for v in versions if v.pk == form.cleaned_data["version"])
        if _label_move(request, template, form, version=version):
            return redirect("prompts:template", tenant_slug=tenant_slug, prompt_id=template.pk)
    return render(request, "prompts/template.html", _template_context(template, versions, form))


def _label_move(request: TenantRequest, template: PromptTemplate, form: LabelMoveForm, *, version) -> bool:
    label = form.cleaned_data["label"]
    try:
        services.prompt_label_move(
            template=template,
            label=label,
            version=version,
            actor=request.user,
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        add_validation_errors(form, exc)
        return False
    messages.success(request, f"{label} now points at v{version.number}.")
    return True


def _template_context(template: PromptTemplate, versions: list[PromptVersion], label_form) -> dict:
    return {
        "template": template,
        "versions": versions,
        "labels": selectors.template_labels(template=template),
        "history": selectors.template_history(template=template)[:100],
        "default": selectors.shared_counterpart(template=template),
        "override": selectors.tenant_override(template=template),
        "experiment": selectors.running_experiment(template=template),
        "label_form": label_form,
        "diff_a": versions[1] if len(versions) > 1 else None,
        "diff_b": versions[0] if versions else None,
    }


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def version_new(request: TenantRequest, tenant_slug: str, prompt_id: int) -> HttpResponse:
    """Save a new version, prefilled from production; on a Maestro default it creates the override."""
    template = selectors.access_prompt_template(template_id=prompt_id)
    override = selectors.tenant_override(template=template)
    if override is not None:
        return redirect("prompts:version_new", tenant_slug=tenant_slug, prompt_id=override.pk)
    start = services.production_version_of(template) or selectors.template_versions(template=template).first()
    initial, initial_messages = VersionForm.initial_from(start)
    form = VersionForm(request.POST or None, initial=initial)
    formset = MessageFormSet(request.POST or None, initial=initial_messages, prefix="messages")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            version = services.prompt_edit(
                template=template,
                actor=request.user,
                make_production=data["make_production"],
                based_on=start,
                messages=formset.messages(),
                variables=data["variables"],
                tier=data["tier"],
                temperature=data["temperature"],
                max_tokens=data["max_tokens"],
                change_note=data["change_note"],
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"Saved v{version.number} of {version.template.key}.")
            return redirect("prompts:template", tenant_slug=tenant_slug, prompt_id=version.template_id)
    context = {"template": template, "start": start, "form": form, "formset": formset}
    return render(request, "prompts/version_new.html", context)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def version_detail(request: TenantRequest, tenant_slug: str, prompt_version_id: int) -> HttpResponse:
    """One version in full; POST makes it production (a rollback when it is older)."""
    version = selectors.access_prompt_version(version_id=prompt_version_id)
    template = version.template
    if request.method == "POST":
        try:
            services.prompt_label_move(
                template=template, label=PRODUCTION, version=version, actor=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Production now runs v{version.number}.")
        return redirect("prompts:template", tenant_slug=tenant_slug, prompt_id=template.pk)
    production = services.production_version_of(template)
    context = {
        "template": template,
        "version": version,
        "production": production,
        "labels": [
            label for label in selectors.template_labels(template=template) if label.version_id == version.pk
        ],
    }
    return render(request, "prompts/version.html", context)


@tenant_view()
@require_GET
def diff(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """Diff of two versions (?a=<id>&b=<id>): any two the tenant sees, e.g. its override and the default."""
    try:
        old_id, new_id = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        raise Http404("Choose two versions to compare.") from None
    old = selectors.access_prompt_version(version_id=old_id)
    new = selectors.access_prompt_version(version_id=new_id)
    context = {
        "old": old,
        "new": new,
        "lines": version_diff(old, new),
        "template": new.template,
        "versions": selectors.template_versions(template=new.template),
    }
    template_name = "prompts/diff.html#diff" if request.htmx else "prompts/diff.html"
    return render(request, template_name, context)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def experiment(request: TenantRequest, tenant_slug: str, prompt_id: int) -> HttpResponse:
    """A/B split of the template's production traffic: start one, and see each version's outcomes."""
    template = selectors.access_prompt_template(template_id=prompt_id)
    versions = list(selectors.template_versions(template=template))
    form = ExperimentForm(request.POST or None, versions=versions)
    if request.method == "POST" and form.is_valid():
        version_b = next(v for v in versions if v.pk == form.cleaned_data["version_b"])
        try:
            services.prompt_experiment_start(
                template=template,
                version_b=version_b,
                share_b=form.cleaned_data["share_b"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(
                request, f"A/B experiment started: v{version_b.number} gets its share of traffic."
            )
            return redirect("prompts:experiment", tenant_slug=tenant_slug, prompt_id=template.pk)
    experiments = [
        (each, selectors.prompt_outcome_stats(versions=[each.version_a, each.version_b], experiment=each))
        for each in selectors.template_experiments(template=template)[:20]
    ]
    context = {
        "template": template,
        "form": form,
        "experiments": experiments,
        "running": next((each for each, _ in experiments if each.is_running), None),
        "production": services.production_version_of(template),
    }
    return render(request, "prompts/experiment.html", context)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def experiment_stop(request: TenantRequest, tenant_slug: str, prompt_experiment_id: int) -> HttpResponse:
    experiment = selectors.access_prompt_experiment(experiment_id=prompt_experiment_id)
    services.prompt_experiment_stop(experiment=experiment, actor=request.user, note="Stopped by an editor.")
    messages.success(request, "Experiment stopped: all traffic is back on production.")
    return redirect("prompts:experiment", tenant_slug=tenant_slug, prompt_id=experiment.template_id)
