"""Browser pages for authors and their style cards: list, create, edit, versions, onboarding. Thin."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from authors import selectors, services
from authors.forms import AuthorForm, SamplesForm, StyleCardForm
from authors.models import StyleProfile
from authors.panels import render_panels
from common.forms import add_validation_errors
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.roles import Permission

STYLE_FORM = "authors/style_form.html"


@tenant_view()
@require_GET
def author_list(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return render(request, "authors/list.html", {"authors": selectors.authors_with_versions()})


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def author_new(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = AuthorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "is_active"}
        try:
            author = services.author_create(**data)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"{author.name} added. Next: their style card.")
            return redirect("authors:author_detail", tenant_slug=tenant_slug, author_id=author.pk)
    return render(request, "authors/author_form.html", {"form": form, "author": None})


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def author_edit(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    author = selectors.access_author(author_id=author_id)
    initial = {f: getattr(author, f) for f in ("name", "headline", "audience", "language", "is_active")}
    form = AuthorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.author_update(author=author, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"{author.name} saved.")
            return redirect("authors:author_detail", tenant_slug=tenant_slug, author_id=author.pk)
    return render(request, "authors/author_form.html", {"form": form, "author": author})


@tenant_view()
@require_GET
def author_detail(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    author = selectors.access_author(author_id=author_id)
    history = list(selectors.style_profile_history(author=author))
    context = {
        "author": author,
        "profile": history[0] if history else None,
        "history": history,
        "panels": render_panels(request, author),  # what higher apps show here (authors/panels.py)
    }
    return render(request, "authors/detail.html", context)


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def style_edit(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    """The style card form; every save is a new version, whoever saved last."""
    author = selectors.access_author(author_id=author_id)
    current = selectors.current_style_profile(author=author)
    if request.method == "GET":
        initial = StyleCardForm.initial_from(
            services.card_of(current), source=StyleProfile.Source.MANUAL, base_version=_version(current)
        )
        return render(request, STYLE_FORM, {"author": author, "form": StyleCardForm(initial=initial)})
    form = StyleCardForm(request.POST)
    if not form.is_valid():
        return render(request, STYLE_FORM, {"author": author, "form": form})
    profile = services.style_profile_save(
        author=author, created_by=request.user, source=form.cleaned_data["source"], **form.card()
    )
    base = form.cleaned_data["base_version"]
    if profile.version - 1 != (base or 0):
        messages.warning(
            request,
            f"Someone else saved a version while you were editing: compare v{profile.version - 1} "
            f"with yours (v{profile.version}) below.",
        )
    messages.success(request, f"Style card v{profile.version} saved for {author.name}.")
    return redirect("authors:author_detail", tenant_slug=tenant_slug, author_id=author.pk)


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def style_extract(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    """Onboarding: paste posts, a model drafts the card, the editor reviews it in the style form."""
    author = selectors.access_author(author_id=author_id)
    if request.method == "GET":
        current = selectors.current_style_profile(author=author)
        samples = services.join_samples(current.sample_posts) if current else ""
        form = SamplesForm(initial={"samples": samples})
        return render(request, "authors/extract.html", {"author": author, "form": form})
    form = SamplesForm(request.POST)
    context = {"author": author, "form": form}
    if not form.is_valid():
        return render(request, "authors/extract.html", context)
    posts = form.cleaned_data["samples"]
    try:
        extracted = services.style_card_extract(
            tenant=request.tenant, author=author, samples=posts, user=request.user
        )
    except services.StyleExtractionError as exc:
        context.update(error=exc.message, raw_answer=exc.raw_answer)
        return render(request, "authors/extract.html", context, status=_status(exc))
    current = selectors.current_style_profile(author=author)
    initial = StyleCardForm.initial_from(
        {**extracted.card, "sample_posts": posts},
        source=StyleProfile.Source.EXTRACTED,
        base_version=_version(current),
    )
    context = {"author": author, "form": StyleCardForm(initial=initial), "extracted": extracted}
    return render(request, STYLE_FORM, context)


@tenant_view()
@require_GET
def style_version(
    request: TenantRequest, tenant_slug: str, author_id: int, profile_version: int
) -> HttpResponse:
    author = selectors.access_author(author_id=author_id)
    profile = selectors.access_style_profile(author=author, version=profile_version)
    history = list(selectors.style_profile_history(author=author))
    context = {"author": author, "profile": profile, "history": history, "is_current": history[0] == profile}
    return render(request, "authors/version.html", context)


@tenant_view()
@require_GET
def style_compare(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    """Diff of two versions (`?a=1&b=3`, version numbers); the fragment alone for htmx."""
    author = selectors.access_author(author_id=author_id)
    history = list(selectors.style_profile_history(author=author))
    if len(history) < 2:
        messages.info(request, "There is only one version so far: nothing to compare.")
        return redirect("authors:author_detail", tenant_slug=tenant_slug, author_id=author.pk)
    old = selectors.access_style_profile(author=author, version=_number(request.GET.get("a"), history[1]))
    new = selectors.access_style_profile(author=author, version=_number(request.GET.get("b"), history[0]))
    context = {
        "author": author,
        "history": history,
        "old": old,
        "new": new,
        "lines": services.style_profile_diff(old, new),
    }
    template = "authors/compare.html#diff" if request.htmx else "authors/compare.html"
    return render(request, template, context)


def _version(profile: StyleProfile | None) -> int | None:
    return profile.version if profile else None


def _number(raw: str | None, default: StyleProfile) -> int:
    return int(raw) if raw and raw.isdigit() else default.version


def _status(exc: services.StyleExtractionError) -> int:
    """The page renders either way (form and samples kept); a refused call keeps the gateway's status."""
    return exc.http_status or 200
