from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.forms import WebhookEndpointForm
from console.views._common import admin_view
from tenants.http import TenantRequest
from webhooks import selectors as webhook_selectors
from webhooks import services as webhooks
from webhooks.models import WebhookEndpoint

REVEAL_ONCE_SLOT = "console_new_webhook_secret"


@admin_view
@require_http_methods(["GET", "POST"])
def webhook_list(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None, instance=WebhookEndpoint())
    if request.method == "POST" and form.is_valid():
        endpoint, secret = webhooks.webhook_endpoint_create(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
        )
        _show_secret_once(request, endpoint, secret)
        return redirect("console:webhook", tenant_slug=tenant_slug, webhook_id=endpoint.pk)
    return render(
        request, "console/webhooks.html", {"form": form, "endpoints": webhook_selectors.webhook_endpoints()}
    )


@admin_view
@require_http_methods(["GET", "POST"])
def webhook_detail(request: TenantRequest, tenant_slug: str, webhook_id: int) -> HttpResponse:
    """The endpoint's settings (POST saves them) and its deliveries log."""
    endpoint = webhook_selectors.access_webhook(webhook_id=webhook_id)
    form = WebhookEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        webhooks.webhook_endpoint_save(endpoint=form.save(commit=False))
        messages.success(request, "Endpoint saved.")
        return redirect("console:webhook", tenant_slug=tenant_slug, webhook_id=endpoint.pk)
    secret = request.session.pop(REVEAL_ONCE_SLOT, None)
    new_secret = secret["secret"] if secret and secret.get("endpoint") == endpoint.pk else None
    deliveries = Paginator(webhook_selectors.webhook_deliveries(endpoint=endpoint), 50).get_page(
        request.GET.get("page")
    )
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries, "new_secret": new_secret}
    return render(request, "console/webhook.html", context)


@admin_view
@require_POST
def webhook_delete(request: TenantRequest, tenant_slug: str, webhook_id: int) -> HttpResponse:
    endpoint = webhook_selectors.access_webhook(webhook_id=webhook_id)
    webhooks.webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("console:webhooks", tenant_slug=tenant_slug)


@admin_view
@require_POST
def webhook_rotate(request: TenantRequest, tenant_slug: str, webhook_id: int) -> HttpResponse:
    endpoint = webhook_selectors.access_webhook(webhook_id=webhook_id)
    _show_secret_once(request, endpoint, webhooks.webhook_endpoint_rotate_secret(endpoint=endpoint))
    return redirect("console:webhook", tenant_slug=tenant_slug, webhook_id=endpoint.pk)


@admin_view
@require_POST
def webhook_test(request: TenantRequest, tenant_slug: str, webhook_id: int) -> HttpResponse:
    endpoint = webhook_selectors.access_webhook(webhook_id=webhook_id)
    webhooks.webhook_send_test(endpoint=endpoint)
    messages.success(request, "Test event queued; it appears below once sent.")
    return redirect("console:webhook", tenant_slug=tenant_slug, webhook_id=endpoint.pk)


@admin_view
@require_GET
def delivery_detail(request: TenantRequest, tenant_slug: str, delivery_id) -> HttpResponse:
    delivery = webhook_selectors.access_delivery(delivery_id=delivery_id)
    return render(request, "console/delivery.html", {"delivery": delivery})


@admin_view
@require_POST
def delivery_replay(request: TenantRequest, tenant_slug: str, delivery_id) -> HttpResponse:
    delivery = webhook_selectors.access_delivery(delivery_id=delivery_id)
    replay = webhooks.webhook_replay(delivery=delivery)
    messages.success(request, f"Replay queued as delivery {replay.pk}.")
    return redirect("console:webhook", tenant_slug=tenant_slug, webhook_id=delivery.endpoint_id)


def _show_secret_once(request: TenantRequest, endpoint: WebhookEndpoint, secret: str) -> None:
    # Kept in the session only until the next page shows it; the database holds it encrypted.
    request.session[REVEAL_ONCE_SLOT] = {"endpoint": endpoint.pk, "secret": secret}
