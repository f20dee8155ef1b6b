from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.forms import BudgetForm
from console.views._common import add_errors, admin_view
from gateway import selectors as gateway_selectors
from gateway import services
from gateway.models import Budget
from tenants.http import TenantRequest


@admin_view
@require_http_methods(["GET", "POST"])
def budgets(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = BudgetForm(request.POST or None, instance=Budget())
    if request.method == "POST" and _save(request, form):
        messages.success(request, "Budget saved; the gateway applies it within seconds.")
        return redirect("console:budgets", tenant_slug=tenant_slug)
    return render(
        request, "console/budgets.html", {"spends": gateway_selectors.budgets_with_spend(), "form": form}
    )


@admin_view
@require_GET
def budget_spend(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """The spend table alone, polled by htmx every few seconds."""
    return render(
        request, "console/budgets.html#spend-table", {"spends": gateway_selectors.budgets_with_spend()}
    )


@admin_view
@require_http_methods(["GET", "POST"])
def budget_edit(request: TenantRequest, tenant_slug: str, budget_id: int) -> HttpResponse:
    budget = gateway_selectors.access_budget(budget_id=budget_id)
    form = BudgetForm(request.POST or None, instance=budget)
    if request.method == "POST" and _save(request, form):
        messages.success(request, "Budget saved; the gateway applies it within seconds.")
        return redirect("console:budgets", tenant_slug=tenant_slug)
    return render(request, "console/budget_form.html", {"form": form, "budget": budget})


@admin_view
@require_POST
def budget_toggle(request: TenantRequest, tenant_slug: str, budget_id: int) -> HttpResponse:
    budget = gateway_selectors.access_budget(budget_id=budget_id)
    services.budget_set_active(tenant=request.tenant, budget=budget, active=not budget.is_active)
    messages.success(request, f"Budget {'activated' if budget.is_active else 'deactivated'}.")
    return redirect("console:budgets", tenant_slug=tenant_slug)


def _save(request: TenantRequest, form: BudgetForm) -> bool:
    if not form.is_valid():
        return False
    try:
        services.budget_save(
            tenant=request.tenant,
            budget=form.instance,
            user_id=form.cleaned_data["user"],
            author_id=form.cleaned_data["author"],
            thresholds=form.cleaned_data["thresholds"],
        )
    except ValidationError as exc:
        add_errors(form, exc)
        return False
    return True
