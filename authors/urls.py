from django.urls import path

from authors import views

app_name = "authors"

# Mounted under t/<slug:tenant_slug>/authors/ by config/urls.py; TenantMiddleware enforces roles.
urlpatterns = [
    path("", views.author_list, name="authors"),
    path("new/", views.author_new, name="author_new"),
    path("<int:author_id>/", views.author_detail, name="author_detail"),
    path("<int:author_id>/edit/", views.author_edit, name="author_edit"),
    path("<int:author_id>/style/", views.style_edit, name="style_edit"),
    path("<int:author_id>/style/extract/", views.style_extract, name="style_extract"),
    path("<int:author_id>/style/compare/", views.style_compare, name="style_compare"),
    path("<int:author_id>/style/v<int:profile_version>/", views.style_version, name="style_version"),
]
