"""What the administration endpoints show and accept (api/views/admin.py): budgets with their spend,
webhook endpoints and their deliveries, members and invitations. Input serializers only parse:
writes go through gateway.budgets.changes, webhooks.services and tenants.services."""

from __future__ import annotations

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gateway.models import Budget, BudgetPeriod, BudgetScope
from tenants.models import Invitation, Membership
from tenants.roles import Role
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint

MAX_ID = 2**63 - 1

# ---- budgets ------------------------------------------------------------------------------------------


class BudgetSerializer(serializers.ModelSerializer):
    """A budget and its current period's spend (`spend` null only when it could not be read)."""

    spent_micros = serializers.SerializerMethodField(help_text="Spent this period, micros of the currency.")
    reserved_micros = serializers.SerializerMethodField(help_text="Held by calls still running.")
    percent = serializers.SerializerMethodField(help_text="Spent, as a percentage of the limit.")
    resets_at = serializers.SerializerMethodField(help_text="When the period ends (UTC).")
    spend_source = serializers.SerializerMethodField(help_text="ledger (live, Redis) or traces (summed).")

    class Meta:
        model = Budget
        fields = [
            "id", "scope", "period", "user", "author", "limit", "alert_thresholds", "is_active",
            "spent_micros", "reserved_micros", "percent", "resets_at", "spend_source",
        ]  # fmt: skip
        read_only_fields = fields

    def _spend(self, budget: Budget):
        return self.context["spend"][budget.pk]

    def get_spent_micros(self, budget: Budget) -> int:
        return self._spend(budget).spent_micros

    def get_reserved_micros(self, budget: Budget) -> int:
        return self._spend(budget).reserved_micros

    def get_percent(self, budget: Budget) -> float:
        return self._spend(budget).percent

    def get_resets_at(self, budget: Budget) -> str:
        return serializers.DateTimeField().to_representation(self._spend(budget).resets_at)

    def get_spend_source(self, budget: Budget) -> str:
        return self._spend(budget).source


# A limit is a decimal string, as DRF writes decimals. Checked by the very pattern the schema states
# (searched, as JSON Schema validators do): "5", "50.00", never "", "-1", " 5" or "1e3".
LIMIT_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,4})?$"


@extend_schema_field({"type": "string", "pattern": LIMIT_PATTERN, "example": "50.00"})
class LimitField(serializers.DecimalField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=12, decimal_places=4, min_value=Decimal(0), **kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str) or re.search(LIMIT_PATTERN, data) is None:
            self.fail("invalid")
        return super().to_internal_value(data)


THRESHOLDS_HELP = "Fractions of the limit (0.8 is 80 %), each above 0 and at most 1; an alert at each."


class BudgetInput(serializers.Serializer):
    scope = serializers.ChoiceField(choices=BudgetScope.choices, default=BudgetScope.TENANT)
    period = serializers.ChoiceField(choices=BudgetPeriod.choices)
    limit = LimitField(help_text='In the currency, as a string: "50.00" (up to 4 decimals).')
    user = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, help_text="A member (user scope)."
    )
    author = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, help_text="An author (author scope)."
    )
    alert_thresholds = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), max_length=10, required=False,
        help_text=THRESHOLDS_HELP,
    )  # fmt: skip
    is_active = serializers.BooleanField(default=True)


class BudgetUpdateInput(serializers.Serializer):
    scope = serializers.ChoiceField(choices=BudgetScope.choices, required=False)
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    limit = LimitField(required=False)
    user = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    author = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    alert_thresholds = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), max_length=10, required=False,
        help_text=THRESHOLDS_HELP,
    )  # fmt: skip
    is_active = serializers.BooleanField(required=False)


# ---- webhooks -----------------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    delivered = serializers.IntegerField(read_only=True, help_text="Deliveries that arrived.")
    failed = serializers.IntegerField(read_only=True, help_text="Deliveries that gave up.")

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "events", "is_active", "delivered", "failed", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret, shown this once: store it now (whsec_...)."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret, shown this once.")


class WebhookEndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="An http(s) URL outside Maestro's network.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), allow_empty=False, max_length=20
    )
    description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class WebhookEndpointUpdateInput(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), allow_empty=False, max_length=20,
        required=False,
    )  # fmt: skip
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event", "event_id", "status", "attempts", "attempt_log", "last_status_code",
            "last_error", "next_retry_at", "delivered_at", "replay_of", "payload", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


# ---- members and invitations ---------------------------------------------------------------------------


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "email", "full_name", "role", "created_at"]
        read_only_fields = fields


class MembershipUpdateInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(
        choices=["pending", "expired", "accepted", "revoked"], read_only=True, help_text="expired: resend it."
    )

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "state", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.WRITER)
