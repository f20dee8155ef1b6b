"""Django admin for the gateway: providers (credentials write-only), the model registry and prices,
tenant policies, budgets, alerts, and read-only traces."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from common.forms import WriteOnlySecretField
from gateway.models import Budget, BudgetAlert, LLMModel, ProviderEndpoint, TenantPolicy, Trace


class ProviderEndpointForm(forms.ModelForm):
    api_key = WriteOnlySecretField(
        help_text="Write-only: stored encrypted and never shown again. Leave empty to keep the current key."
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ProviderEndpoint
        fields = ["tenant", "name", "kind", "base_url", "extra_headers", "is_active"]

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            endpoint.set_api_key("")
        elif self.cleaned_data.get("api_key"):
            endpoint.set_api_key(self.cleaned_data["api_key"])
        if commit:
            endpoint.save()
        return endpoint


@admin.register(ProviderEndpoint)
class ProviderEndpointAdmin(admin.ModelAdmin):
    form = ProviderEndpointForm
    list_display = ["name", "kind", "base_url", "tenant", "key_hint", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["key_hint"]

    @admin.display(description="API key")
    def key_hint(self, obj: ProviderEndpoint) -> str:
        return obj.api_key_hint or "—"


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    list_display = [
        "alias",
        "model_name",
        "provider",
        "tier",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "context_window",
        "max_output_tokens",
        "is_active",
    ]
    list_editable = ["tier", "input_price_per_mtok", "output_price_per_mtok", "is_active"]
    list_filter = ["tier", "provider", "is_active"]
    search_fields = ["alias", "model_name"]


@admin.register(TenantPolicy)
class TenantPolicyAdmin(admin.ModelAdmin):
    list_display = ["tenant", "preference", "tokens_per_minute", "requests_per_minute", "redact_prompts"]
    filter_horizontal = ["allowed_models"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["tenant"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return ["tenant", *[f for f in fields if f != "tenant"]]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["tenant", "scope", "period", "user", "author", "limit", "is_active"]
    list_filter = ["scope", "period", "is_active"]

    def get_fields(self, request, obj=None):
        return ["tenant", "scope", "period", "user", "author", "limit", "alert_thresholds", "is_active"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["tenant"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["tenant", "budget", "threshold", "period_start", "spent", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "tenant",
        "purpose",
        "model_alias",
        "status",
        "cost",
        "latency_ms",
        "ttft_ms",
        "cache_hit",
    ]
    list_filter = ["status", "purpose", "cache_hit", "streamed"]
    search_fields = ["id", "model_alias", "error_code"]
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
