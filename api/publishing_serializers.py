"""What the publishing endpoints show and accept (api/views/publishing.py). Output serializers are
read-only views of the rows; input serializers only parse: writes go through publishing.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator.models import Series
from publishing.export import FORMATS
from publishing.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    PostMetrics,
    PostStatus,
    ScheduledPost,
    SeriesSlot,
)
from publishing.series import DEFAULT_PLAN_DAYS, MAX_PLAN_DAYS
from publishing.slots import MAX_SLOTS

MAX_COUNT = 2**63 - 1  # what PostgreSQL stores in a bigint
MAX_ID = 2**63 - 1


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


# ---- deliveries (api/views/planning.py) ---------------------------------------------------------------


class DeliveryListSerializer(DeliverySerializer):
    """A delivery on its own: which post it delivered."""

    class Meta(DeliverySerializer.Meta):
        fields = ["post", *DeliverySerializer.Meta.fields]
        read_only_fields = fields


class DeliveryFilter(serializers.Serializer):
    post = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)


# ---- posting schedules ----------------------------------------------------------------------------------

# What the schema states is what the field takes: [0-9], not \d (which Python reads as any digit).
SLOT_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class SlotSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 is Monday, 6 Sunday.")
    time = serializers.RegexField(SLOT_TIME, trim_whitespace=False, help_text="HH:MM, in the time zone.")


class ScheduleSerializer(serializers.Serializer):
    author = serializers.IntegerField(source="author_id")
    time_zone = serializers.CharField(help_text="An IANA name: Europe/Lisbon.")
    slots = SlotSerializer(many=True)
    channel = serializers.ChoiceField(choices=Channel.choices)
    updated_at = serializers.DateTimeField(allow_null=True, help_text="null: never saved (empty, UTC).")


class ScheduleInput(serializers.Serializer):
    time_zone = serializers.CharField(max_length=64, help_text="An IANA name: Europe/Lisbon.")
    slots = SlotSerializer(  # type: ignore[call-arg]  # DRF hands max_length to the ListSerializer; stubs lack it
        many=True, max_length=MAX_SLOTS, help_text="Weekday times; [] posts nowhere."
    )
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EXTERNAL)


# ---- series ---------------------------------------------------------------------------------------------


class SeriesSerializer(serializers.ModelSerializer):
    flow = serializers.CharField(source="flow_name", read_only=True)

    class Meta:
        model = Series
        fields = ["id", "name", "author", "flow", "brief", "cron", "is_active", "created_by", "created_at"]
        read_only_fields = fields


class SeriesInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    author = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    flow = serializers.SlugField(max_length=60, default="post", help_text="One of GET /flows.")
    brief = serializers.CharField(max_length=8000, help_text="The theme each run writes about.")
    cron = serializers.CharField(
        max_length=100, default="0 9 * * 1", help_text="minute hour day month weekday, in UTC."
    )
    is_active = serializers.BooleanField(default=True, help_text="false: created paused.")


class SeriesUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    author = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    flow = serializers.SlugField(max_length=60, required=False)
    brief = serializers.CharField(max_length=8000, required=False)
    cron = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(required=False)


class SeriesFilter(serializers.Serializer):
    author = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    is_active = serializers.BooleanField(required=False, help_text="Only active (true) or paused (false).")


class SeriesPlanInput(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_PLAN_DAYS, default=DEFAULT_PLAN_DAYS)


class SeriesSlotSerializer(serializers.ModelSerializer):
    generation = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)

    class Meta:
        model = SeriesSlot
        fields = ["id", "series", "author", "at", "generation", "post", "created_at"]
        read_only_fields = fields


class SeriesPlanSerializer(serializers.Serializer):
    planned = SeriesSlotSerializer(many=True, help_text="A draft started for each free slot.")
