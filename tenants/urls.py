from django.urls import path

from tenants import views

app_name = "tenants"

# Mounted under t/<slug:tenant_slug>/ by config/urls.py; TenantMiddleware enforces membership and roles.
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path(
        "members/invitations/<int:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"
    ),
    path(
        "members/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"
    ),
]
