"""The gateway's records: providers and their credentials, the model registry, each tenant's
policy and budgets, budget alerts, and the trace of every call."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from common.crypto import decrypt_secret
from tenants.scoping import TenantOrSharedModel, TenantOwnedModel

# --- Flows ---------------------------------------------------------------------------------------


class FlowDefinition(TenantOrSharedModel):
    """A named, versioned list of steps (see orchestrator/flows/definitions.py); shared or per tenant.

    A version never changes once saved (orchestrator/flows/editing.py saves every edit as a new one);
    `is_active` marks the tenant's live version of a name, and only that flag is ever updated."""

    name = models.SlugField(max_length=60)
    version = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=200, blank=True)
    steps = models.JSONField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name", "version"], name="flow_unique_version"),
            models.UniqueConstraint(
                fields=["name", "version"], condition=models.Q(tenant__isnull=True), name="flow_unique_shared"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class FlowSecret(TenantOwnedModel):
    """A credential an HTTP step sends or signs with, named by the steps that use it (`"secret": name`).
    Encrypted at rest (common/crypto.py); never shown back after it is saved, only its mask."""

    name = models.SlugField(max_length=60)
    value_encrypted = models.TextField(editable=False)
    mask = models.CharField(max_length=20, blank=True, editable=False, help_text="What a person may see.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="flowsecret_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.mask})"

    def value(self) -> str:
        return decrypt_secret(self.value_encrypted)


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    # Finished with a draft in the queue, but a step could not do its job even after its repair
    # strategy (no usable verdict, an empty draft, ...): `attention` says which and why.
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    FAILED = "failed", "Failed"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.NEEDS_ATTENTION, RunStatus.FAILED)


class FlowRun(TenantOwnedModel):
    """One execution of a flow for an author and a brief. The steps are copied at start, so editing
    the definition never changes a run in progress."""

    definition = models.ForeignKey(FlowDefinition, on_delete=models.PROTECT, related_name="+")
    steps = models.JSONField()
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    brief = models.TextField()
    inputs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    # Why the run needs attention: [{"step": key, "reason": text}], one per step that failed its job.
    attention = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=120, blank=True)
    series = models.ForeignKey("orchestrator.Series", null=True, blank=True, on_delete=models.SET_NULL)
    cost_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Never stranded (orchestrator/sweeper.py): when the run was last sent to the queue (or is due
    # again, after a retry's countdown), which worker holds it and when that worker last beat.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    takeovers = models.PositiveSmallIntegerField(
        default=0, help_text="How often the sweeper resumed the run after its worker stopped beating."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="flowrun_status_heartbeat")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="flowrun_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.definition_id} ({self.status})"


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class StepRun(TenantOwnedModel):
    """One step of a run, stored when it finishes: a resumed run reuses it and never pays twice."""

    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="step_runs")
    key = models.CharField(max_length=80, help_text="The step id, with a round number for loops: critique.2")
    step_type = models.CharField(max_length=20)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.RUNNING)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    call_ids = models.JSONField(default=list, blank=True)
    cost_micros = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position", "started_at"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="steprun_unique_key")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.key} {self.status}"

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000, 1)


# --- Review queue --------------------------------------------------------------------------------


class Series(TenantOwnedModel):
    """A recurring theme for an author: Celery beat starts a flow on its schedule."""

    name = models.CharField(max_length=120)
    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="+")
    flow_name = models.SlugField(max_length=60, default="post")
    brief = models.TextField(help_text="The theme; each run adds the date and the series' recent posts.")
    cron = models.CharField(
        max_length=100, default="0 9 * * 1", help_text="minute hour day month weekday (UTC)"
    )
    is_active = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.name
