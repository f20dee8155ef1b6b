"""Shapes of the audit log and export endpoints (api/views/audit.py, api/views/privacy.py)."""

from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.DictField(help_text="The changed fields as they were.")
    after = serializers.DictField(help_text="The changed fields as they are now.")

    class Meta:
        model = AuditEvent
        fields = [
            "id", "at", "action", "actor_label", "actor_user_id", "actor_api_key_id", "target_type",
            "target_id", "target_label", "before", "after", "ip",
        ]  # fmt: skip
        read_only_fields = fields


class AuditFilter(serializers.Serializer):
    actor = serializers.CharField(
        max_length=200, required=False, help_text="Part of an email or a key's name."
    )
    action = serializers.CharField(
        max_length=60, required=False, help_text='An action, or a prefix ending in a dot: "member.".'
    )
    target_type = serializers.CharField(max_length=60, required=False, help_text='e.g. "gateway.budget".')
    target_id = serializers.CharField(max_length=64, required=False)
    from_ = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False, help_text="Exclusive.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # "from" is a keyword in Python, not in query strings
        return fields


class ExportQuery(serializers.Serializer):
    author = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="Only this author's data; absent: the whole tenant.",
    )
