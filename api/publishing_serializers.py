"""What the publishing endpoints show and accept (api/views/publishing.py). Output serializers are
read-only views of the rows; input serializers only parse: writes go through publishing.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from publishing.export import FORMATS
from publishing.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    PostMetrics,
    PostStatus,
    ScheduledPost,
)

MAX_COUNT = 2**63 - 1  # what PostgreSQL stores in a bigint


class PostMetricsSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostMetrics
        fields = ["impressions", "reactions", "comments", "reposts", "source", "collected_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "channel", "status", "attempts", "attempt_log", "last_status_code", "error", "external_id",
            "marked_by", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class PostSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=PostStatus.choices, read_only=True)
    channel = serializers.ChoiceField(choices=Channel.choices, read_only=True)
    text = serializers.CharField(source="draft.body", read_only=True)
    external_url = serializers.CharField(read_only=True, help_text="Empty until delivered (or when unknown).")
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledPost
        fields = [
            "id", "draft", "author", "at", "channel", "status", "next_attempt_at", "last_error",
            "external_id", "external_url", "text", "metrics", "created_at", "updated_at", "delivered_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(PostMetricsSerializer(allow_null=True))
    def get_metrics(self, post: ScheduledPost) -> dict | None:
        metrics = getattr(post, "metrics", None)  # the reverse one-to-one raises AttributeError when absent
        return PostMetricsSerializer(metrics).data if metrics is not None else None


class PostDetailSerializer(PostSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "deliveries"]
        read_only_fields = fields


class PostFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=PostStatus.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    author = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    start = serializers.DateTimeField(required=False, help_text="Posts at or after this time.")
    end = serializers.DateTimeField(required=False, help_text="Posts before this time.")


class PostScheduleInput(serializers.Serializer):
    draft = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="An approved draft.")
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="With its offset; absent or null: the author's next free slot.",
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text="Absent: the channel of the author's schedule."
    )


class PostMoveInput(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="With its offset; absent or null: the author's next free slot.",
    )


class PostDeliveredInput(serializers.Serializer):
    external_id = serializers.CharField(
        max_length=200, help_text="The post's id in the system that published it."
    )
    url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="An http(s) link to the published post."
    )


class PostMetricsInput(serializers.Serializer):
    impressions = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)
    reactions = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)
    comments = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)
    reposts = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)


class PostExportFilter(serializers.Serializer):
    start = serializers.DateField(help_text="First day (UTC), inclusive.")
    end = serializers.DateField(help_text="Last day (UTC), inclusive; at most 366 days after `start`.")
    output = serializers.ChoiceField(choices=list(FORMATS), default="json")
