"""The tenant's administration, as the console and the members page offer it: budgets (with their current
spend), webhook endpoints (with their deliveries) and members with their invitations.

Everything here, reads included, needs the `admin` scope; a browser session also needs the admin role
(the editor role carries the `admin` scope for content only), exactly as the console requires.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api import admin_serializers as s
from api.models import Scope
from api.pagination import Cursor
from api.views.audit import require_tenant_admin
from api.views.base import body_of
from api.views.content import ReadViewSet
from gateway import selectors as gateway_selectors
from gateway.budgets import changes as budget_changes
from gateway.models import Budget
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from webhooks import selectors as webhook_selectors
from webhooks import services as webhook_services


class AdminViewSet(ReadViewSet):
    """Every action needs the `admin` scope and, for a session, the admin role."""

    admin_actions: tuple[str, ...] = ()

    @property
    def required_scopes(self) -> dict[str, str]:  # type: ignore[override]  # the same mapping, derived
        actions = ("list", "retrieve", "create", "partial_update", "destroy", *self.admin_actions)
        return dict.fromkeys(actions, Scope.ADMIN)

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        require_tenant_admin(self.principal)


# ---- budgets -------------------------------------------------------------------------------------------


class BudgetViewSet(AdminViewSet):
    """Hard spending limits per day or month (UTC), for the tenant, a member or an author, with what the
    current period has spent. A call that would go past an active budget is refused (402 on /v1)."""

    serializer_class = s.BudgetSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Budget.objects.select_related("user", "author")

    def get_serializer_context(self):
        spend = {row.budget.pk: row for row in gateway_selectors.budgets_with_spend()}
        return {**super().get_serializer_context(), "spend": spend}

    def _done(self, budget_id: int, code: int = status.HTTP_200_OK) -> Response:
        budget = gateway_selectors.access_budget(budget_id=budget_id)
        return Response(s.BudgetSerializer(budget, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=s.BudgetInput, responses={201: s.BudgetSerializer})
    def create(self, request):
        """A new budget; a tenant has one per subject and period."""
        data = body_of(s.BudgetInput, request)
        budget = budget_changes.budget_create(tenant=self.principal.tenant, **data)
        return self._done(budget.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.BudgetUpdateInput, responses=s.BudgetSerializer)
    def partial_update(self, request, pk=None):
        """Change the limit, the thresholds, the period or the subject, or pause it (`is_active`)."""
        budget = gateway_selectors.access_budget(budget_id=pk)
        changes = body_of(s.BudgetUpdateInput, request)
        budget_changes.budget_update(tenant=self.principal.tenant, budget=budget, **changes)
        return self._done(budget.pk)


# ---- webhooks ------------------------------------------------------------------------------------------


class WebhookDeliveryCursor(Cursor):
    ordering = "-created_at"  # the primary key is a random UUID


class WebhookViewSet(AdminViewSet, mixins.DestroyModelMixin):
    """Endpoints Maestro sends signed events to (X-Maestro-Signature; docs/console.md)."""

    serializer_class = s.WebhookEndpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    admin_actions = ("deliveries", "rotate_secret")

    def get_queryset(self):
        return webhook_selectors.webhook_endpoints()

    def _endpoint(self, pk):
        return self.get_queryset().get(pk=webhook_selectors.access_webhook(webhook_id=pk).pk)

    @extend_schema(request=s.WebhookEndpointInput, responses={201: s.WebhookEndpointCreatedSerializer})
    def create(self, request):
        """Register an endpoint. The answer carries its signing `secret`: the only time it is shown."""
        data = body_of(s.WebhookEndpointInput, request)
        endpoint, secret = webhook_services.webhook_endpoint_add(actor=self.principal.user, **data)
        body = {**s.WebhookEndpointSerializer(self._endpoint(endpoint.pk)).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WebhookEndpointUpdateInput, responses=s.WebhookEndpointSerializer)
    def partial_update(self, request, pk=None):
        endpoint = webhook_selectors.access_webhook(webhook_id=pk)
        changes = body_of(s.WebhookEndpointUpdateInput, request)
        webhook_services.webhook_endpoint_update(endpoint=endpoint, actor=self.principal.user, **changes)
        return Response(s.WebhookEndpointSerializer(self._endpoint(endpoint.pk)).data)

    def perform_destroy(self, instance) -> None:
        """The endpoint and its deliveries log go; nothing more is sent to it."""
        webhook_services.webhook_endpoint_remove(endpoint=instance, actor=self.principal.user)

    @extend_schema(responses=s.WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=WebhookDeliveryCursor)
    def deliveries(self, request, pk=None):
        """The endpoint's deliveries, newest first: each attempt, its status code and error."""
        endpoint = webhook_selectors.access_webhook(webhook_id=pk)
        page = self.paginate_queryset(webhook_selectors.webhook_deliveries(endpoint=endpoint))
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None, responses=OpenApiResponse(s.WebhookSecretSerializer, "The new secret, shown once.")
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret; the old one stops signing at once."""
        endpoint = webhook_selectors.access_webhook(webhook_id=pk)
        secret = webhook_services.webhook_secret_rotate(endpoint=endpoint, actor=self.principal.user)
        return Response({"secret": secret})


# ---- members and invitations ---------------------------------------------------------------------------


def _base_url(request) -> str:
    """Where invitation links point: the host this API was called on, as the members page does."""
    return f"{request.scheme}://{request.get_host()}"


class MemberViewSet(AdminViewSet, mixins.DestroyModelMixin):
    """The tenant's members and their roles. A tenant keeps at least one admin."""

    serializer_class = s.MembershipSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return tenant_selectors.tenant_members()

    @extend_schema(request=s.MembershipUpdateInput, responses=s.MembershipSerializer)
    def partial_update(self, request, pk=None):
        """Change a member's role."""
        membership = tenant_selectors.access_membership(membership_id=pk)
        role = body_of(s.MembershipUpdateInput, request)["role"]
        tenant_services.member_change_role(membership=membership, role=role)
        return Response(s.MembershipSerializer(tenant_selectors.access_membership(membership_id=pk)).data)

    def perform_destroy(self, instance) -> None:
        """Remove the member from the tenant (their account stays)."""
        tenant_services.member_remove(membership=instance)


class InvitationViewSet(AdminViewSet):
    """Open invitations (expired ones included, to resend or revoke); accepted and revoked ones leave
    the list. Inviting e-mails a link that is valid for MAESTRO_INVITATION_DAYS."""

    serializer_class = s.InvitationSerializer
    admin_actions = ("resend", "revoke")

    def get_queryset(self):
        return tenant_selectors.pending_invitations()

    @extend_schema(request=s.InvitationInput, responses={201: s.InvitationSerializer})
    def create(self, request):
        """Invite an address with a role (refused for a member, or an address already invited)."""
        data = body_of(s.InvitationInput, request)
        invitation = tenant_services.invitation_create(
            tenant=self.principal.tenant,
            invited_by=self.principal.user,
            base_url=_base_url(request),
            **data,
        )
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """A new link with a new expiry; the link sent before stops working."""
        invitation = tenant_selectors.access_invitation(invitation_id=pk)
        invitation = tenant_services.invitation_resend(
            invitation=invitation, actor=self.principal.user, base_url=_base_url(request)
        )
        return Response(s.InvitationSerializer(invitation).data)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Withdraw the invitation: its link stops working."""
        invitation = tenant_selectors.access_invitation(invitation_id=pk)
        invitation = tenant_services.invitation_revoke(invitation=invitation, actor=self.principal.user)
        return Response(s.InvitationSerializer(invitation).data)
