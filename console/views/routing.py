"""Models page: the tenant's policy, its own providers (write-only keys) and models, fallback chains,
and the learned router's dial with its cost/quality curve and history."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.forms import LLMModelForm, PolicyForm, ProviderForm, RoutePreferenceForm, RouterDialForm
from console.views._common import admin_view
from gateway import selectors as gateway_selectors
from gateway import services
from gateway.models import LLMModel, ProviderEndpoint
from gateway.router_model import selectors as router_selectors
from gateway.router_model import services as router_services
from gateway.router_model.dial import DialPoint
from tenants.http import TenantRequest


@admin_view
@require_http_methods(["GET", "POST"])
def models_page(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    policy = gateway_selectors.tenant_policy()
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        policy = form.save(commit=False)
        policy.cache_modes = form.cache_modes()
        services.policy_update(
            tenant=request.tenant,
            policy=policy,
            allowed_models=form.cleaned_data["allowed_models"],
            default_tiers=form.default_tiers(),
        )
        messages.success(request, "Policy saved.")
        return redirect("console:models", tenant_slug=tenant_slug)
    context = {
        "form": form,
        "providers": gateway_selectors.tenant_providers(),
        "models": gateway_selectors.tenant_models(),
        "routes": gateway_selectors.route_preferences(),
        "route_form": RoutePreferenceForm(),
        **_router_context(request),
    }
    return render(request, "console/models.html", context)


def _router_context(request: TenantRequest, form: RouterDialForm | None = None) -> dict:
    overview = router_selectors.router_overview(tenant_id=request.tenant.pk)
    return {
        "router": overview,
        "router_form": form or RouterDialForm.for_setting(overview.setting),
        "router_svg": _curve_svg(overview.curve, overview.chosen),
    }


def _curve_svg(curve: list[DialPoint], chosen: DialPoint | None) -> dict:
    """Polyline points of expected quality and cost against the premium share, for a 300 x 150 chart."""
    if not curve:
        return {}
    low = min(min(p.quality for p in curve), min((p.cost for p in curve if p.cost is not None), default=1.0))
    low = max(0.0, min(low, 0.95) - 0.02)

    def y(value: float) -> float:
        return round(150 - 150 * (value - low) / (1 - low), 1)

    def line(values: list[tuple[float, float]]) -> str:
        return " ".join(f"{round(300 * x, 1)},{y(v)}" for x, v in values)

    return {
        "quality": line([(p.premium_share, p.quality) for p in curve]),
        "cost": line([(p.premium_share, p.cost) for p in curve if p.cost is not None]),
        "chosen_x": round(300 * chosen.premium_share, 1) if chosen else None,
        "low": round(100 * low),
    }


@admin_view
@require_POST
def router_dial(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = RouterDialForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("console:models", tenant_slug=tenant_slug)
    setting = router_services.router_dial_save(tenant=request.tenant, **form.values())
    calibration = setting.calibration or {}
    if setting.threshold is None:
        messages.warning(request, "Dial saved. No router is trained yet: the rules route every call.")
    else:
        messages.success(
            request,
            f"Dial saved: threshold {setting.threshold:.3f}, about {calibration.get('premium_share', 0):.0%} "
            f"premium ({calibration.get('source', '')}).",
        )
    return redirect("console:models", tenant_slug=tenant_slug)


@admin_view
@require_POST
def router_rollback(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    restored = router_services.router_rollback(tenant=request.tenant)
    where = f"router {restored.version}" if restored else "the shared prior"
    messages.success(request, f"Rolled back: calls now route with {where}.")
    return redirect("console:models", tenant_slug=tenant_slug)


@admin_view
@require_POST
def router_restore(request: TenantRequest, tenant_slug: str, router_artefact_id: int) -> HttpResponse:
    artefact = router_selectors.access_router_artefact(artefact_id=router_artefact_id)
    try:
        router_services.router_restore(tenant=request.tenant, artefact=artefact)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Router {artefact.version} is active again.")
    return redirect("console:models", tenant_slug=tenant_slug)


@admin_view
@require_http_methods(["GET", "POST"])
def provider_new(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return _provider_form(request, tenant_slug, ProviderEndpoint())


@admin_view
@require_http_methods(["GET", "POST"])
def provider_edit(request: TenantRequest, tenant_slug: str, provider_id: int) -> HttpResponse:
    return _provider_form(request, tenant_slug, gateway_selectors.access_provider(provider_id=provider_id))


def _provider_form(request: TenantRequest, tenant_slug: str, provider: ProviderEndpoint) -> HttpResponse:
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
def llm_model_new(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return _model_form(request, tenant_slug, LLMModel())


@admin_view
@require_http_methods(["GET", "POST"])
def llm_model_edit(request: TenantRequest, tenant_slug: str, llm_model_id: int) -> HttpResponse:
    return _model_form(request, tenant_slug, gateway_selectors.access_llm_model(llm_model_id=llm_model_id))


def _model_form(request: TenantRequest, tenant_slug: str, model: LLMModel) -> HttpResponse:
    form = LLMModelForm(request.POST or None, instance=model)
    if request.method == "POST" and form.is_valid():
        services.llm_model_save(tenant=request.tenant, model=form.save(commit=False))
        messages.success(request, f"Model {model.alias} saved.")
        return redirect("console:models", tenant_slug=tenant_slug)
    return render(request, "console/model_form.html", {"form": form, "model": model})


@admin_view
@require_POST
def route_save(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = RoutePreferenceForm(request.POST)
    if form.is_valid():
        services.route_preference_save(
            tenant=request.tenant, purpose=form.cleaned_data["purpose"], chain=form.cleaned_data["chain"]
        )
        messages.success(request, f"Fallback chain for {form.cleaned_data['purpose']} saved.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("console:models", tenant_slug=tenant_slug)


@admin_view
@require_POST
def route_delete(request: TenantRequest, tenant_slug: str, route_id: int) -> HttpResponse:
    preference = gateway_selectors.access_route(route_id=route_id)
    services.route_preference_delete(tenant=request.tenant, preference=preference)
    messages.success(request, f"Fallback chain for {preference.purpose} removed.")
    return redirect("console:models", tenant_slug=tenant_slug)
