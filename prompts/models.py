"""The versioned prompt library: templates, immutable versions, movable labels, their audit trail,
A/B experiments and the outcomes of the drafts written with each version.

A template with tenant NULL is one of Maestro's global defaults, read-only to tenants; a tenant's
template with the same purpose and name overrides it for that tenant. Every row below a template
carries the template's tenant, so the scoped managers guard versions, labels and history by id too.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenants.scoping import TenantOrSharedManager, TenantOrSharedModel, TenantOwnedModel, TenantQuerySet

PRODUCTION = "production"


class Purpose(models.TextChoices):
    POST = "post", "Post"
    COMMENT = "comment", "Comment"
    REPLY = "reply", "Reply to a message"
    SERIES_PLAN = "series_plan", "Series plan"
    CRITIQUE = "critique", "Critique"
    REVISE = "revise", "Revise"
    STYLE_EXTRACTION = "style_extraction", "Style extraction"


class ModelTier(models.TextChoices):
    # The gateway accepts a tier name as a model alias (gateway.routing.TIERS).
    SMALL = "small", "Small (cheap, fast)"
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium (complex work)"


class ImmutableRowError(RuntimeError):
    """A prompt version (or an outcome) was about to be changed after it was saved."""


class PromptTemplate(TenantOrSharedModel):
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    name = models.SlugField(
        max_length=60, default="default", help_text="Several templates may share a purpose."
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["purpose", "name", "tenant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "purpose", "name"], name="prompt_template_unique_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["purpose", "name"],
                condition=models.Q(tenant__isnull=True),
                name="prompt_template_unique_shared",
            ),
        ]

    def __str__(self) -> str:
        owner = "Maestro" if self.tenant_id is None else f"tenant {self.tenant_id}"
        return f"{self.purpose}/{self.name} ({owner})"

    @property
    def key(self) -> str:
        return f"{self.purpose}/{self.name}"


class ImmutableQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise ImmutableRowError(f"{self.model.__name__} rows never change once saved.")


class PromptVersionManager(TenantOrSharedManager.from_queryset(ImmutableQuerySet)):  # type: ignore[misc]  # django-stubs cannot type a from_queryset manager used as a base class
    """Scoped like every shared-or-owned manager; `.update()` refuses."""


class PromptVersion(TenantOrSharedModel):
    """One immutable version: chat messages, declared variables and model parameters together."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    messages = models.JSONField(help_text='[{"role": "system"|"user"|"assistant", "content": "..."}]')
    variables = models.JSONField(
        default=list, blank=True, help_text='[{"name": "brief", "description": "...", "required": true}]'
    )
    tier = models.CharField(max_length=16, choices=ModelTier.choices, default=ModelTier.STANDARD)
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.70"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(2))],
    )
    max_tokens = models.PositiveIntegerField(
        default=800, validators=[MinValueValidator(16), MaxValueValidator(32000)]
    )
    change_note = models.CharField(max_length=200, blank=True)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version the editor started from (may be a Maestro default).",
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[PromptVersionManager] = PromptVersionManager()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="prompt_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        # A guard, not a workflow: versions are written once by services.prompt_version_create.
        if not self._state.adding:
            raise ImmutableRowError("Prompt versions are immutable: save a new version instead.")
        super().save(*args, **kwargs)

    @property
    def variable_names(self) -> list[str]:
        return [variable["name"] for variable in self.variables]


class PromptLabel(TenantOrSharedModel):
    """A movable name (production, staging, any slug) pointing at one version of the template."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=40)
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["template", "name"]
        constraints = [models.UniqueConstraint(fields=["template", "name"], name="prompt_label_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} -> {self.version}"


class ChangeKind(models.TextChoices):
    VERSION_CREATED = "version_created", "Version created"
    LABEL_MOVED = "label_moved", "Label moved"
    ROLLED_BACK = "rolled_back", "Rolled back"
    OVERRIDE_CREATED = "override_created", "Override of the Maestro default created"
    EXPERIMENT_STARTED = "experiment_started", "A/B experiment started"
    EXPERIMENT_STOPPED = "experiment_stopped", "A/B experiment stopped"


class PromptChange(TenantOrSharedModel):
    """Who changed what and when: one row per version saved, label moved or experiment started/stopped."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=24, choices=ChangeKind.choices)
    label = models.CharField(max_length=40, blank=True)
    version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.template_id}"


class PromptExperiment(TenantOwnedModel):
    """An A/B split of one template's production traffic for one tenant: B gets `share_b` percent.

    The template may be a Maestro default (both versions then are Maestro's) or the tenant's own.
    """

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="experiments")
    version_a = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="+")
    version_b = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="+")
    share_b = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(100)], help_text="Percent of traffic for B."
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "template"],
                condition=models.Q(stopped_at__isnull=True),
                name="prompt_experiment_one_running",
            ),
            models.CheckConstraint(
                condition=models.Q(share_b__gte=0, share_b__lte=100), name="prompt_experiment_share_range"
            ),
        ]

    def __str__(self) -> str:
        return f"A/B {self.version_a_id} vs {self.version_b_id} ({self.share_b}% B)"

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None

    def variant_for(self, key: str | None) -> str:
        """'A' or 'B', the same for the same key every time (retries never flip); no key -> A."""
        if key is None:
            return "A"
        digest = hashlib.sha256(f"{self.pk}:{key}".encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") % 10_000
        return "B" if bucket < self.share_b * 100 else "A"


class PromptOutcome(TenantOwnedModel):
    """What became of one draft written with a version: approved or not, how much was edited, cost."""

    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="outcomes")
    experiment = models.ForeignKey(
        PromptExperiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    approved = models.BooleanField()
    edit_distance = models.FloatField(
        null=True, blank=True, help_text="0 = approved as written, 1 = rewritten."
    )
    cost_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "version"], name="prompt_outcome_version")]

    def __str__(self) -> str:
        return f"outcome of {self.version_id}: {'approved' if self.approved else 'rejected'}"
