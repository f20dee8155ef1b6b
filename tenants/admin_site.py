"""Django's admin for Maestro's staff: sees every tenant, by a stated exception to scoping."""

from __future__ import annotations

import functools

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from tenants.context import cross_tenant_access


class MaestroAdminSite(admin.AdminSite):
    site_header = "Maestro administration"
    site_title = "Maestro admin"

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def cross_tenant_view(request, *args, **kwargs):
            with cross_tenant_access("Django admin: staff operate across tenants"):
                response = wrapped(request, *args, **kwargs)
                # TemplateResponses render after the view returns; render inside the scope.
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                return response

        return cross_tenant_view


class MaestroAdminConfig(AdminConfig):
    default_site = "tenants.admin_site.MaestroAdminSite"
