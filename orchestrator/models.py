"""The gateway's records: providers and their credentials, the model registry, each tenant's
policy and budgets, budget alerts, and the trace of every call."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from orchestrator.crypto import decrypt_secret, encrypt_secret, mask_secret
from orchestrator.pricing import MICROS_PER_UNIT, cost_micros, micros_to_units
from tenants.scoping import TenantOrSharedModel, TenantOwnedModel


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp)"
    ANTHROPIC = "anthropic", "Anthropic Messages API"


class ProviderEndpoint(TenantOrSharedModel):
    """Where calls go and with which credential; shared by all tenants or owned by one."""

    name = models.CharField(max_length=60, help_text="Short name, e.g. openai, anthropic, local.")
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500, help_text="e.g. https://api.openai.com/v1")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    extra_headers = models.JSONField(default=dict, blank=True, help_text="Sent with every request.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="provider_unique_name_per_tenant"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(tenant__isnull=True), name="provider_unique_shared_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = encrypt_secret(plaintext)

    def api_key(self) -> str:
        return decrypt_secret(self.api_key_encrypted)

    @property
    def api_key_hint(self) -> str:
        return mask_secret(self.api_key()) if self.api_key_encrypted else ""


class Tier(models.TextChoices):
    SMALL = "small", "Small (cheap, fast)"
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium (complex work)"


TIER_ORDER = [Tier.SMALL, Tier.STANDARD, Tier.PREMIUM]


class LLMModel(TenantOrSharedModel):
    """One model of one provider, with its prices and limits: every call's cost comes from here."""

    provider = models.ForeignKey(ProviderEndpoint, on_delete=models.CASCADE, related_name="models")
    alias = models.SlugField(max_length=80, help_text="Maestro's name for it, e.g. gpt-4o-mini.")
    model_name = models.CharField(max_length=120, help_text="The provider's own model name.")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    input_price_per_mtok = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Currency per million input tokens.",
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Currency per million output tokens.",
    )
    context_window = models.PositiveIntegerField(validators=[MinValueValidator(256)])
    max_output_tokens = models.PositiveIntegerField(validators=[MinValueValidator(16)])
    capabilities = models.JSONField(default=list, blank=True, help_text='e.g. ["streaming", "json"]')
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["tier", "alias"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "alias"], name="llmmodel_unique_alias_per_tenant"),
            models.UniqueConstraint(
                fields=["alias"], condition=models.Q(tenant__isnull=True), name="llmmodel_unique_shared_alias"
            ),
        ]

    def __str__(self) -> str:
        return self.alias

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        return cost_micros(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_price_per_mtok=self.input_price_per_mtok,
            output_price_per_mtok=self.output_price_per_mtok,
        )


class QualityPreference(models.TextChoices):
    ECONOMY = "economy", "Economy: one tier down"
    BALANCED = "balanced", "Balanced"
    QUALITY = "quality", "Quality: one tier up"


class TenantPolicy(TenantOwnedModel):
    """How the gateway treats one tenant's calls."""

    allowed_models = models.ManyToManyField(
        LLMModel, blank=True, related_name="+", help_text="Empty: every active model."
    )
    preference = models.CharField(
        max_length=16, choices=QualityPreference.choices, default=QualityPreference.BALANCED
    )
    default_tiers = models.JSONField(
        default=dict, blank=True, help_text='Tier per purpose, e.g. {"critique": "small"}.'
    )
    max_prompt_chars = models.PositiveIntegerField(default=60_000)
    tokens_per_minute = models.PositiveIntegerField(default=200_000, help_text="0: no limit.")
    requests_per_minute = models.PositiveIntegerField(default=600, help_text="0: no limit.")
    redact_prompts = models.BooleanField(
        default=False, help_text="Mask PII before prompts leave for a provider."
    )
    redact_traces = models.BooleanField(default=False, help_text="Mask PII in stored traces.")
    store_prompts = models.BooleanField(default=True, help_text="Keep prompt and response text in traces.")
    cache_enabled = models.BooleanField(
        default=True, help_text="Answer semantically identical requests from the semantic cache."
    )
    cache_threshold = models.FloatField(
        default=0.78,  # chosen by bench/bench_semantic_cache.py on its tuning split
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Cosine similarity a cached request needs (guards apply on top; docs/semantic-cache.md).",
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        default=7 * 24 * 3600, help_text="How long a cached answer may be served."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="policy_one_per_tenant")]
        verbose_name_plural = "tenant policies"

    def __str__(self) -> str:
        return f"Policy of tenant {self.tenant_id}"


class BudgetScope(models.TextChoices):
    TENANT = "tenant", "Whole tenant"
    USER = "user", "One user"
    AUTHOR = "author", "One author"


class BudgetPeriod(models.TextChoices):
    DAY = "day", "Day (UTC)"
    MONTH = "month", "Month (UTC)"


def default_alert_thresholds() -> list[float]:
    return [0.8, 1.0]


class Budget(TenantOwnedModel):
    """A hard spending limit per day or month, for the tenant, one user or one author."""

    scope = models.CharField(max_length=16, choices=BudgetScope.choices, default=BudgetScope.TENANT)
    period = models.CharField(max_length=8, choices=BudgetPeriod.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    author = models.ForeignKey("tenants.Author", null=True, blank=True, on_delete=models.CASCADE)
    limit = models.DecimalField(
        max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal(0))], help_text="Currency."
    )
    alert_thresholds = models.JSONField(default=default_alert_thresholds, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scope", "period", "user", "author"],
                name="budget_unique_per_subject",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="tenant", user__isnull=True, author_id__isnull=True)
                    | models.Q(scope="user", user__isnull=False, author_id__isnull=True)
                    | models.Q(scope="author", user__isnull=True, author_id__isnull=False)
                ),
                name="budget_subject_matches_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.get_period_display()} limit {self.limit}"

    @property
    def limit_micros(self) -> int:
        return int(self.limit * MICROS_PER_UNIT)


class BudgetAlert(TenantOwnedModel):
    """Recorded once per budget, threshold and period when spend crosses it."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    threshold = models.FloatField(validators=[MinValueValidator(0.01), MaxValueValidator(1.0)])
    period_start = models.DateTimeField()
    spent = models.DecimalField(max_digits=12, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "threshold", "period_start"], name="alert_once_per_period"
            )
        ]


class TraceStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    REFUSED = "refused", "Refused by the gateway"


class Trace(TenantOwnedModel):
    """One gateway call: who asked, how it was routed, every attempt, what it cost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key_id = models.BigIntegerField(null=True, blank=True)
    author_id = models.BigIntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=40)
    flow_run_id = models.BigIntegerField(null=True, blank=True)
    step = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=TraceStatus.choices)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    routing = models.JSONField(default=dict, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    model = models.ForeignKey(LLMModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_alias = models.CharField(max_length=80, blank=True)
    prompt = models.JSONField(default=list, blank=True)
    response = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    usage_estimated = models.BooleanField(default=False)
    cost_micros = models.BigIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True)
    cache_hit = models.BooleanField(default=False)
    streamed = models.BooleanField(default=False)
    redacted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="trace_tenant_recent"),
            models.Index(fields=["tenant", "user", "created_at"], name="trace_tenant_user"),
            models.Index(fields=["tenant", "author_id", "created_at"], name="trace_tenant_author"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.purpose} {self.status}"

    @property
    def cost(self) -> Decimal:
        return micros_to_units(self.cost_micros)


EMBEDDING_DIMENSIONS = 384


class SemanticCacheEntry(TenantOwnedModel):
    """One answered request the gateway may serve again to a semantically identical request of the
    same scope (tenant, purpose, prompt version, model class, author, style profile version).

    `scope_hash` is a digest of the scope fields for the exact filter; the fields themselves are kept
    for invalidation and for reading. Lookups are raw vector searches and filter by tenant explicitly.
    """

    purpose = models.CharField(max_length=40)
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    model_class = models.CharField(max_length=80, help_text="Tier or model alias the caller asked for.")
    author_id = models.BigIntegerField(null=True, blank=True)
    profile_version = models.PositiveIntegerField(null=True, blank=True)
    scope_hash = models.CharField(max_length=64)
    request_text = models.TextField(help_text="The normalized user-role text the similarity is computed on.")
    request_hash = models.CharField(max_length=64, help_text="Digest of the request text, for exact repeats.")
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=120)
    response_text = models.TextField()
    model_alias = models.CharField(max_length=80, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_saved_micros = models.BigIntegerField(default=0, help_text="What the original call cost.")
    hit_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "scope_hash", "expires_at"], name="semcache_scope_live"),
            models.Index(fields=["tenant", "scope_hash", "request_hash"], name="semcache_exact"),
            models.Index(fields=["tenant", "prompt_version_id"], name="semcache_prompt_version"),
            models.Index(fields=["tenant", "author_id"], name="semcache_author"),
            HnswIndex(
                name="semcache_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.request_text[:40]}"


# --- Flows ---------------------------------------------------------------------------------------


class FlowDefinition(TenantOrSharedModel):
    """A named, versioned list of steps (see orchestrator/flows/definitions.py); shared or per tenant."""

    name = models.SlugField(max_length=60)
    version = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=200, blank=True)
    steps = models.JSONField()
    is_active = models.BooleanField(default=True)
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


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class FlowRun(TenantOwnedModel):
    """One execution of a flow for an author and a brief. The steps are copied at start, so editing
    the definition never changes a run in progress."""

    definition = models.ForeignKey(FlowDefinition, on_delete=models.PROTECT, related_name="+")
    steps = models.JSONField()
    author = models.ForeignKey("tenants.Author", on_delete=models.CASCADE, related_name="+")
    brief = models.TextField()
    inputs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=120, blank=True)
    series = models.ForeignKey("orchestrator.Series", null=True, blank=True, on_delete=models.SET_NULL)
    cost_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
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
        FlowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="draft"
    )
    author = models.ForeignKey("tenants.Author", on_delete=models.CASCADE, related_name="+")
    flow_name = models.CharField(max_length=60, blank=True)
    brief = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=DraftState.choices, default=DraftState.GENERATING)
    body = models.TextField(blank=True)
    original_body = models.TextField(blank=True, help_text="What the model wrote, before any human edit.")
    critique = models.JSONField(default=dict, blank=True)
    profile = models.ForeignKey(
        "tenants.StyleProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        ordering = ["created_at"]


class LearningProposal(TenantOwnedModel):
    """Something a reviewer's edit suggests the author's memories should hold; an editor decides."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="learning_proposals")
    author = models.ForeignKey("tenants.Author", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)  # a memories kind: key_phrase, learning, feedback ...
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class Series(TenantOwnedModel):
    """A recurring theme for an author: Celery beat starts a flow on its schedule."""

    name = models.CharField(max_length=120)
    author = models.ForeignKey("tenants.Author", on_delete=models.CASCADE, related_name="+")
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
