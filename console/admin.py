"""Django admin (operators): webhook endpoints (secret never shown) and deliveries, read-only."""

from __future__ import annotations

from django.contrib import admin

from gateway.models import RoutePreference
from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "tenant", "is_active", "created_at"]
    list_filter = ["is_active"]
    exclude = ["secret_encrypted"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "tenant", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RoutePreference)
class RoutePreferenceAdmin(admin.ModelAdmin):
    list_display = ["purpose", "tenant", "chain", "updated_at"]
