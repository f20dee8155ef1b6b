from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz
from telemetry.views import metrics_view
from tenants import views as tenant_views

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus, behind a bearer token (docs/telemetry.md)
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation_accept"),
    path("t/<slug:tenant_slug>/", include("tenants.urls")),
    path("t/<slug:tenant_slug>/authors/", include("authors.urls")),
    path("t/<slug:tenant_slug>/prompts/", include("prompts.urls")),
    path("t/<slug:tenant_slug>/memories/", include("memories.urls")),
    path("t/<slug:tenant_slug>/work/", include("orchestrator.urls")),
    path("t/<slug:tenant_slug>/console/", include("console.urls")),
    path("t/<slug:tenant_slug>/api-keys/", include("api.browser_urls")),
    path("t/<slug:tenant_slug>/publishing/", include("publishing.urls")),
    path("publishing/", include("publishing.oauth_urls")),
    path("api/v1/", include("api.urls")),
    path("api/", include("api.docs_urls")),
    path("v1/", include("api.openai_urls")),
]

# A refusal keeps the tenant's navigation and logs one line (tenants.views.forbidden).
handler403 = tenant_views.forbidden
