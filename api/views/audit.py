"""The audit log, for the tenant's administrators: who changed what, and when."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions

from api import privacy_serializers as s
from api.models import Scope
from api.views.base import query_of
from api.views.content import ReadViewSet
from audit.selectors import audit_events
from tenants.roles import Permission, role_allows
from tenants.selectors import membership_for


def require_tenant_admin(principal) -> None:
    """Keys need the admin scope (checked by HasScope); a browser session also needs the admin role,
    since the editor role carries that scope for content."""
    if principal.api_key is not None:
        return
    membership = membership_for(user=principal.user, tenant=principal.tenant)
    if membership is None or not role_allows(membership.role, Permission.MANAGE_TENANT):
        raise exceptions.PermissionDenied("This is for the tenant's admins.")


@extend_schema_view(list=extend_schema(parameters=[s.AuditFilter]))
class AuditEventViewSet(ReadViewSet):
    """Append-only events, newest first: members and roles, budgets, models, providers, policies,
    routes, prompt labels and rollbacks, review decisions, API keys, retention, exports, erasures."""

    serializer_class = s.AuditEventSerializer
    required_scopes = {"list": Scope.ADMIN, "retrieve": Scope.ADMIN}

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        require_tenant_admin(self.principal)

    def get_queryset(self):
        if self.action != "list":
            return audit_events()
        query = query_of(s.AuditFilter, self.request)
        names = {"actor": "actor", "action": "action", "target_type": "target_type", "target_id": "target_id"}
        filters = {name: query[key] for key, name in names.items() if key in query}
        return audit_events(**filters, since=query.get("from"), until=query.get("to"))
