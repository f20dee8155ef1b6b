"""The review queue: drafts on their way to an author's feed, every transition, and learning proposals."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class DraftState(models.TextChoices):
    GENERATING = "generating", "Generating"
    READY = "ready", "Ready for review"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DELIVERED = "delivered", "Delivered"


class Draft(TenantOwnedModel):
    """A piece of content on its way to an author's feed; humans approve every one."""

    run = models.OneToOneField(
        # A string reference: the run that wrote the draft belongs to orchestrator, which builds on
        # this app; the review code reads `draft.run_id` and never imports orchestrator.
        "orchestrator.FlowRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="draft",
    )
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    flow_name = models.CharField(max_length=60, blank=True)
    brief = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=DraftState.choices, default=DraftState.GENERATING)
    body = models.TextField(blank=True)
    original_body = models.TextField(blank=True, help_text="What the model wrote, before any human edit.")
    critique = models.JSONField(default=dict, blank=True)
    profile = models.ForeignKey(
        "authors.StyleProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    experiment_id = models.BigIntegerField(null=True, blank=True)
    variant = models.CharField(max_length=1, blank=True)
    revision_rounds = models.PositiveIntegerField(default=0)
    human_rounds = models.PositiveIntegerField(default=0, help_text="Times a reviewer asked for changes.")
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edit_distance = models.FloatField(
        null=True, blank=True, help_text="0: approved as written; 1: rewritten."
    )
    cost_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orchestrator_draft"  # kept from the app it moved from
        ordering = ["created_at"]
        indexes = [models.Index(fields=["tenant", "state", "created_at"], name="draft_queue")]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.state})"


class DraftTransition(TenantOwnedModel):
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestrator_drafttransition"  # kept from the app it moved from
        ordering = ["created_at"]


class LearningProposal(TenantOwnedModel):
    """Something a reviewer's edit suggests the author's memories should hold; an editor decides."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="learning_proposals")
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)  # a memories kind: key_phrase, learning, feedback ...
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestrator_learningproposal"  # kept from the app it moved from
        ordering = ["-created_at"]
