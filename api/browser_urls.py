"""t/<slug:tenant_slug>/api-keys/: key management for tenant admins (mounted by config/urls.py)."""

from django.urls import path

from api.views import keys

app_name = "api_keys"

urlpatterns = [
    path("", keys.api_keys, name="list"),
    path("<int:api_key_id>/revoke/", keys.api_key_revoke, name="revoke"),
]
