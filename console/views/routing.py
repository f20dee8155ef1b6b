"""Models page: the tenant's policy, its own providers (write-only keys) and models, fallback chains."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console import selectors, services
from console.forms import LLMModelForm, PolicyForm, ProviderForm, RoutePreferenceForm
from console.views._common import admin_view
from gateway.models import LLMModel, ProviderEndpoint


@admin_view
@require_http_methods(["GET", "POST"])
def models_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    policy = selectors.tenant_policy()
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        services.policy_update(
            tenant=request.tenant,
            policy=form.save(commit=False),
            allowed_models=form.cleaned_data["allowed_models"],
            default_tiers=form.default_tiers(),
        )
        messages.success(request, "Policy saved.")
        return redirect("console:models", tenant_slug=tenant_slug)
    context = {
        "form": form,
        "providers": selectors.tenant_providers(),
        "models": selectors.tenant_models(),
        "routes": selectors.route_preferences(),
        "route_form": RoutePreferenceForm(),
    }
    return render(request, "console/models.html", context)


@admin_view
@require_http_methods(["GET", "POST"])
def provider_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _provider_form(request, tenant_slug, ProviderEndpoint())


@admin_view
@require_http_methods(["GET", "POST"])
def provider_edit(request: HttpRequest, tenant_slug: str, provider_id: int) -> HttpResponse:
    return _provider_form(request, tenant_slug, selectors.access_provider(provider_id=provider_id))


def _provider_form(request: HttpRequest, tenant_slug: str, provider: ProviderEndpoint) -> HttpResponse:
    form = ProviderForm(request.POST or None, instance=provider)
    if request.method == "POST" and form.is_valid():
        services.provider_save(
            tenant=request.tenant,
            provider=form.save(commit=False),
            api_key=form.cleaned_data["api_key"],
            clear_api_key=form.cleaned_data["clear_api_key"],
        )
        messages.success(request, f"Provider {provider.name} saved.")
        return redirect("console:models", tenant_slug=tenant_slug)
    return render(request, "console/provider_form.html", {"form": form, "provider": provider})


@admin_view
@require_http_methods(["GET", "POST"])
def llm_model_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _model_form(request, tenant_slug, LLMModel())


@admin_view
@require_http_methods(["GET", "POST"])
def llm_model_edit(request: HttpRequest, tenant_slug: str, llm_model_id: int) -> HttpResponse:
    return _model_form(request, tenant_slug, selectors.access_llm_model(llm_model_id=llm_model_id))


def _model_form(request: HttpRequest, tenant_slug: str, model: LLMModel) -> HttpResponse:
    form = LLMModelForm(request.POST or None, instance=model)
    if request.method == "POST" and form.is_valid():
        services.llm_model_save(tenant=request.tenant, model=form.save(commit=False))
        messages.success(request, f"Model {model.alias} saved.")
        return redirect("console:models", tenant_slug=tenant_slug)
    return render(request, "console/model_form.html", {"form": form, "model": model})


@admin_view
@require_POST
def route_save(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = RoutePreferenceForm(request.POST)
    if form.is_valid():
        services.route_preference_save(
            tenant=request.tenant, purpose=form.cleaned_data["purpose"], chain=form.cleaned_data["chain"]
        )
        messages.success(request, f"Fallback chain for {form.cleaned_data['purpose']} saved.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("console:models", tenant_slug=tenant_slug)


@admin_view
@require_POST
def route_delete(request: HttpRequest, tenant_slug: str, route_id: int) -> HttpResponse:
    preference = selectors.access_route(route_id=route_id)
    services.route_preference_delete(tenant=request.tenant, preference=preference)
    messages.success(request, f"Fallback chain for {preference.purpose} removed.")
    return redirect("console:models", tenant_slug=tenant_slug)
