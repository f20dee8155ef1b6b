from django.urls import path

from memories import views

app_name = "memories"

# Mounted under t/<slug:tenant_slug>/memories/ by config/urls.py; TenantMiddleware enforces roles.
urlpatterns = [
    path("", views.memory_list, name="list"),
    path("add/", views.memory_add, name="add"),
    path("<int:memory_id>/", views.memory_edit, name="edit"),
    path("<int:memory_id>/expire/", views.memory_expire, name="expire"),
    path("<int:memory_id>/delete/", views.memory_delete, name="delete"),
    path("<int:memory_id>/supersede/", views.memory_supersede, name="supersede"),
    path("<int:memory_id>/keep-both/", views.memory_keep_both, name="keep_both"),
]
