"""From approved to published: each author's posting schedule, the posts queued into it, every delivery
of a post to its channel, the authors' LinkedIn connections, and what each post earned."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from common.crypto import decrypt_secret
from tenants.scoping import TenantOwnedModel


class Channel(models.TextChoices):
    LINKEDIN = "linkedin", "LinkedIn (published by Maestro)"
    # A CRM, a scheduler or a person publishes it; they mark it delivered (API or browser).
    EXTERNAL = "external", "External (a CRM or a person publishes it)"


class PostingSchedule(TenantOwnedModel):
    """When an author posts: weekday time slots in the author's own time zone.

    `slots` is a list of {"weekday": 0..6 (Monday is 0), "time": "HH:MM"}, kept sorted."""

    author = models.OneToOneField("authors.Author", on_delete=models.CASCADE, related_name="+")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="An IANA name: Europe/Lisbon.")
    slots = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EXTERNAL)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"schedule of {self.author_id} ({self.time_zone})"


class PostStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHING = "publishing", "Publishing"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A post in one of these holds its time: two of an author's live posts never share an instant.
LIVE_STATUSES = (PostStatus.SCHEDULED, PostStatus.PUBLISHING, PostStatus.RETRYING)
# What a writer may still move, cancel or mark delivered by hand.
OPEN_STATUSES = (PostStatus.SCHEDULED, PostStatus.RETRYING, PostStatus.FAILED)


class ScheduledPost(TenantOwnedModel):
    """An approved draft queued for a time on a channel; it ends delivered (with its external id),
    failed (with the error), or cancelled."""

    draft = models.OneToOneField("reviews.Draft", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=PostStatus.choices, default=PostStatus.SCHEDULED)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the next attempt is due.")
    last_error = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    external_url = models.URLField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="scheduledpost_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "at"],
                condition=models.Q(status__in=["scheduled", "publishing", "retrying"]),
                name="scheduledpost_one_live_post_per_author_time",
            )
        ]

    def __str__(self) -> str:
        return f"post of draft {self.draft_id} at {self.at:%Y-%m-%d %H:%M} ({self.status})"


class SeriesSlot(TenantOwnedModel):
    """A slot of the author's schedule that a series planned a draft for, ahead of time: the run
    writing it, and the post it became once the draft was approved (queued into this slot)."""

    series = models.ForeignKey("orchestrator.Series", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    run = models.OneToOneField(
        "orchestrator.FlowRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    post = models.OneToOneField(
        ScheduledPost, null=True, blank=True, on_delete=models.SET_NULL, related_name="series_slot"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["author", "at"], name="seriesslot_one_per_author_time")
        ]

    def __str__(self) -> str:
        return f"series {self.series_id} slot {self.at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Delivery(TenantOwnedModel):
    """One delivery of a post to its channel: every attempt (time, status code, error) and the outcome.

    A post that failed and is scheduled again gets a new delivery; the old one stays as the record."""

    post = models.ForeignKey(ScheduledPost, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.IN_PROGRESS
    )
    attempts = models.PositiveIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery of post {self.post_id} ({self.status}, {self.attempts} attempts)"


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    EXPIRED = "expired", "Expired: connect again"
    REVOKED = "revoked", "Disconnected"


class LinkedInConnection(TenantOwnedModel):
    """An author's authorisation for Maestro to post as them (OAuth 2.0); tokens encrypted at rest."""

    author = models.OneToOneField("authors.Author", on_delete=models.CASCADE, related_name="+")
    member_id = models.CharField(max_length=100, help_text="The member's id (OpenID `sub`).")
    member_name = models.CharField(max_length=200, blank=True)
    scopes = models.CharField(max_length=300, blank=True)
    access_token_encrypted = models.TextField(editable=False)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"LinkedIn of author {self.author_id} ({self.status})"

    @property
    def author_urn(self) -> str:
        return f"urn:li:person:{self.member_id}"

    def access_token(self) -> str:
        return decrypt_secret(self.access_token_encrypted)

    def refresh_token(self) -> str:
        return decrypt_secret(self.refresh_token_encrypted)


class MetricSource(models.TextChoices):
    LINKEDIN = "linkedin", "Pulled from LinkedIn"
    CSV = "csv", "Uploaded as CSV"
    API = "api", "Pushed through the API"


class PostMetrics(TenantOwnedModel):
    """What a delivered post earned, as last collected (each collection replaces the counts)."""

    post = models.OneToOneField(ScheduledPost, on_delete=models.CASCADE, related_name="metrics")
    impressions = models.PositiveBigIntegerField(default=0)
    reactions = models.PositiveBigIntegerField(default=0)
    comments = models.PositiveBigIntegerField(default=0)
    reposts = models.PositiveBigIntegerField(default=0)
    source = models.CharField(max_length=10, choices=MetricSource.choices)
    collected_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "post metrics"

    def __str__(self) -> str:
        return f"metrics of post {self.post_id}"

    @property
    def engagements(self) -> int:
        return self.reactions + self.comments + self.reposts
