from django.urls import path

from tenants import author_views, views

app_name = "tenants"

# Mounted under t/<slug:tenant_slug>/ by config/urls.py; TenantMiddleware enforces membership and roles.
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("authors/", author_views.author_list, name="authors"),
    path("authors/new/", author_views.author_new, name="author_new"),
    path("authors/<int:author_id>/", author_views.author_detail, name="author_detail"),
    path("authors/<int:author_id>/edit/", author_views.author_edit, name="author_edit"),
    path("authors/<int:author_id>/style/", author_views.style_edit, name="style_edit"),
    path("authors/<int:author_id>/style/extract/", author_views.style_extract, name="style_extract"),
    path("authors/<int:author_id>/style/compare/", author_views.style_compare, name="style_compare"),
    path(
        "authors/<int:author_id>/style/v<int:profile_version>/",
        author_views.style_version,
        name="style_version",
    ),
]
