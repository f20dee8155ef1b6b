from django.urls import path

from prompts import views

app_name = "prompts"

# Mounted under t/<slug:tenant_slug>/prompts/ by config/urls.py; TenantMiddleware checks membership, roles.
urlpatterns = [
    path("", views.library, name="library"),
    path("diff/", views.diff, name="diff"),
    path("<int:prompt_id>/", views.template_detail, name="template"),
    path("<int:prompt_id>/new/", views.version_new, name="version_new"),
    path("<int:prompt_id>/experiment/", views.experiment, name="experiment"),
    path("versions/<int:prompt_version_id>/", views.version_detail, name="version"),
    path("experiments/<int:prompt_experiment_id>/stop/", views.experiment_stop, name="experiment_stop"),
]
