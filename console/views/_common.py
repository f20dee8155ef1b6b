from __future__ import annotations

from common.forms import add_validation_errors
from tenants.access import tenant_view
from tenants.roles import Permission

# Reading and changing the console both need the admin role.
admin_view = tenant_view(read=Permission.MANAGE_TENANT, write=Permission.MANAGE_TENANT)

# The console's pages import the shared helper under this name.
add_errors = add_validation_errors
