"""Django admin for publishing: posts with their deliveries (read-only records), schedules, and LinkedIn
connections (tokens never shown)."""

from django.contrib import admin

from publishing.models import Delivery, LinkedInConnection, PostingSchedule, PostMetrics, ScheduledPost

DELIVERY_FIELDS = ("channel", "status", "attempts", "last_status_code", "error", "external_id", "created_at")


class DeliveryInline(admin.TabularInline):
    """Deliveries are the record of what was sent: read-only."""

    model = Delivery
    extra = 0
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ScheduledPost)
class ScheduledPostAdmin(admin.ModelAdmin):
    list_display = ["draft", "author", "at", "channel", "status", "external_id", "tenant"]
    list_filter = ["tenant", "channel", "status"]
    search_fields = ["external_id", "author__name"]
    readonly_fields = [
        "draft",
        "author",
        "external_id",
        "external_url",
        "delivered_at",
        "created_at",
        "updated_at",
    ]
    inlines = [DeliveryInline]


@admin.register(PostingSchedule)
class PostingScheduleAdmin(admin.ModelAdmin):
    list_display = ["author", "time_zone", "channel", "tenant", "updated_at"]
    list_filter = ["tenant", "channel"]


@admin.register(LinkedInConnection)
class LinkedInConnectionAdmin(admin.ModelAdmin):
    """The encrypted tokens are not fields of the form (editable=False): never shown, never typed."""

    list_display = ["author", "member_name", "status", "expires_at", "refresh_expires_at", "tenant"]
    list_filter = ["tenant", "status"]
    readonly_fields = [
        "member_id",
        "member_name",
        "scopes",
        "expires_at",
        "refresh_expires_at",
        "connected_at",
    ]


@admin.register(PostMetrics)
class PostMetricsAdmin(admin.ModelAdmin):
    list_display = ["post", "impressions", "reactions", "comments", "reposts", "source", "collected_at"]
    list_filter = ["tenant", "source"]
