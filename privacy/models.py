"""Retention policies, and the reports of what retention and erasure removed."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenants.scoping import TenantOwnedModel

DAYS = [MinValueValidator(1), MaxValueValidator(36_500)]


class RetentionPolicy(TenantOwnedModel):
    """How long a tenant keeps what it no longer needs. Empty: kept for as long as the tenant exists."""

    trace_body_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=DAYS,
        help_text="Days to keep the prompt and answer text of model calls; their metrics stay.",
    )
    cache_entry_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=DAYS,
        help_text="Days to keep cached answers even before they expire (expired ones always go).",
    )
    rejected_draft_days = models.PositiveIntegerField(
        null=True, blank=True, validators=DAYS, help_text="Days to keep rejected drafts after the decision."
    )
    finished_run_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=DAYS,
        help_text="Days to keep finished flow runs and their steps (drafts under review keep theirs).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="retention_policy_one_per_tenant")]
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"Retention policy of tenant {self.tenant_id}"


class RetentionReport(TenantOwnedModel):
    """One retention run of one tenant: the policy it applied and how many rows each rule removed."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    policy = models.JSONField(default=dict, help_text="The policy as it was applied.")
    removed = models.JSONField(default=dict, help_text="Rule -> rows removed or blanked.")
    details = models.JSONField(default=dict, help_text="Table -> rows deleted, cascades included.")
    manual = models.BooleanField(default=False, help_text="Started from the console, not by the schedule.")

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"retention of tenant {self.tenant_id} at {self.ran_at:%Y-%m-%d %H:%M}"

    @property
    def total(self) -> int:
        return sum(self.removed.values())


class ErasureKind(models.TextChoices):
    AUTHOR = "author", "An author and everything derived from them"
    TENANT = "tenant", "A whole tenant"


class ErasureReport(TenantOwnedModel):
    """What one erasure removed, table by table. It names no one: an author is "author #12".

    A tenant's erasure report outlives the tenant: `tenant` becomes empty when the tenant's row goes,
    and `subject_label` keeps its name and slug for the operator."""

    tenant = models.ForeignKey(  # type: ignore[assignment]  # nullable here: the report outlives its tenant
        "tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=ErasureKind.choices)
    subject_id = models.BigIntegerField(help_text="The erased author's or tenant's id.")
    subject_label = models.CharField(max_length=200)
    removed = models.JSONField(default=dict, help_text="Table -> rows removed.")
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Not stored: what the erasure that just ran has to tell its caller besides the counts, such as a
    # LinkedIn token that LinkedIn could not revoke yet (the audit log keeps those).
    notes: list[str] = []  # replaced per instance, never mutated

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"erasure of {self.subject_label} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def total(self) -> int:
        return sum(self.removed.values())
