from __future__ import annotations

from django.core.exceptions import ValidationError

from tenants.access import tenant_view
from tenants.roles import Permission

# Reading and changing the console both need the admin role.
admin_view = tenant_view(read=Permission.MANAGE_TENANT, write=Permission.MANAGE_TENANT)


def add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
