"""The gateway's records: providers and their credentials, the model registry, each tenant's
policy, budgets and route preferences, budget alerts, the trace of every call, and the semantic cache."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from common.crypto import decrypt_secret, encrypt_secret, mask_secret
from common.money import MICROS_PER_UNIT, cost_micros, micros_to_units
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
        db_table = "orchestrator_providerendpoint"  # kept from the app it moved from
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


class PromptFormat(models.TextChoices):
    CHAT = "chat", "Chat: an instruction-tuned model answers messages"
    DOCUMENT = "document", "Document: a base model continues a text (completion-style prompts)"


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
    max_concurrency = models.PositiveIntegerField(
        default=0,
        help_text="Calls it serves at once, across all Maestro processes (a llama.cpp server's --parallel, "
        "a provider's concurrency limit); further calls wait in line for a slot. 0: no limit.",
    )
    prompt_format = models.CharField(
        max_length=10,
        choices=PromptFormat.choices,
        default=PromptFormat.CHAT,
        help_text="How prompts are shaped for it: chat messages, or a document a base model continues.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "orchestrator_llmmodel"  # kept from the app it moved from
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


MIN_SENSITIVE_TERM = 3


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
    # Privacy by default (docs/redaction.md): a new tenant's prompts and traces are masked.
    redact_prompts = models.BooleanField(
        default=True, help_text="Mask PII before prompts leave for a provider."
    )
    redact_traces = models.BooleanField(default=True, help_text="Mask PII in stored traces.")
    redact_names = models.BooleanField(
        default=True,
        help_text="Also detect and mask people's names and street addresses (English, Portuguese).",
    )
    sensitive_terms = models.TextField(
        blank=True,
        max_length=20_000,
        help_text="One term per line (clients, code names): always masked, as whole words, in any case.",
    )
    redaction_notice = models.BooleanField(
        default=False,
        editable=False,
        help_text="Redaction was switched on by an upgrade; the console says so until the policy is saved.",
    )
    ttft_alert_seconds = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(120.0)],
        help_text="Alert when the p95 of time to first token (seconds) over the alert window exceeds this.",
    )
    store_prompts = models.BooleanField(default=True, help_text="Keep prompt and response text in traces.")
    cache_enabled = models.BooleanField(
        default=True, help_text="Answer semantically identical requests from the semantic cache."
    )
    cache_threshold = models.FloatField(
        default=0.78,  # chosen by cross-validation over training families (gateway/cache/training.py)
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Cosine similarity a cached request needs (guards apply on top; docs/semantic-cache.md).",
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        default=7 * 24 * 3600, help_text="How long a cached answer may be served."
    )
    cache_modes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Cache mode per purpose (off, exact, semantic), e.g. {"post": "exact"}; a purpose '
        "not named takes the default of gateway.cache.policy.DEFAULT_MODES.",
    )

    class Meta:
        db_table = "orchestrator_tenantpolicy"  # kept from the app it moved from
        constraints = [models.UniqueConstraint(fields=["tenant"], name="policy_one_per_tenant")]
        verbose_name_plural = "tenant policies"

    def __str__(self) -> str:
        return f"Policy of tenant {self.tenant_id}"

    @property
    def sensitive_terms_list(self) -> list[str]:
        return [line.strip() for line in self.sensitive_terms.splitlines() if line.strip()]

    def clean(self) -> None:
        short = [term for term in self.sensitive_terms_list if len(term) < MIN_SENSITIVE_TERM]
        if short:
            raise ValidationError({
                "sensitive_terms": f"Terms need at least {MIN_SENSITIVE_TERM} characters (shorter ones would "
                f"mask ordinary words): {', '.join(short)}."
            })  # fmt: skip


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
    author = models.ForeignKey("authors.Author", null=True, blank=True, on_delete=models.CASCADE)
    limit = models.DecimalField(
        max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal(0))], help_text="Currency."
    )
    alert_thresholds = models.JSONField(default=default_alert_thresholds, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "orchestrator_budget"  # kept from the app it moved from
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


class BudgetAlertKind(models.TextChoices):
    THRESHOLD = "threshold", "Threshold crossed"
    EXHAUSTED = "exhausted", "Used up: a call was refused"


class BudgetAlert(TenantOwnedModel):
    """Recorded once per budget, threshold and period when spend crosses it; and once per budget and
    period ("exhausted", threshold 1.0) when the hard cap first refuses a call."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=BudgetAlertKind.choices, default=BudgetAlertKind.THRESHOLD)
    threshold = models.FloatField(validators=[MinValueValidator(0.01), MaxValueValidator(1.0)])
    period_start = models.DateTimeField()
    spent = models.DecimalField(max_digits=12, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestrator_budgetalert"  # kept from the app it moved from
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "kind", "threshold", "period_start"], name="alert_once_per_period"
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
    prompt_version_id = models.BigIntegerField(
        null=True, blank=True, help_text="The prompt library version the request was rendered from."
    )
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
        db_table = "orchestrator_trace"  # kept from the app it moved from
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


class LatencyAlert(TenantOwnedModel):
    """A time-to-first-token alert: open while the tenant's TTFT p95 is above its policy's threshold
    (gateway/alerts.py checks it every minute), resolved once it is back under."""

    threshold_ms = models.FloatField()
    p95_ms = models.FloatField(help_text="The p95 when the alert opened.")
    last_p95_ms = models.FloatField(help_text="The p95 at the latest check.")
    samples = models.PositiveIntegerField(help_text="Streamed calls in the window at the latest check.")
    window_minutes = models.PositiveIntegerField()
    worst_model = models.CharField(max_length=80, blank=True, help_text="The model with the highest p95.")
    started_at = models.DateTimeField()
    checked_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(resolved_at__isnull=True), name="latency_alert_one_open"
            )
        ]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "open"
        return f"TTFT p95 {self.p95_ms:.0f} ms > {self.threshold_ms:.0f} ms ({state})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


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
        db_table = "orchestrator_semanticcacheentry"  # kept from the app it moved from
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


class RoutePreference(TenantOwnedModel):
    """An ordered list of model aliases the router should try first for one purpose.

    The router reads it through `gateway.catalog.route_chains()` (see docs/console.md): aliases
    are tried in this order, then the router's own tier-based chain continues after them.
    """

    purpose = models.CharField(max_length=40)
    chain = ArrayField(
        models.SlugField(max_length=80), size=8, help_text="Model aliases, first choice first."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "console_routepreference"  # kept from the app it moved from
        ordering = ["purpose"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "purpose"], name="route_pref_one_per_purpose")
        ]

    def __str__(self) -> str:
        return f"{self.purpose}: {' → '.join(self.chain)}"


# --- The learned router (gateway/router_model/, docs/router.md) ------------------------------------


class RouterMode(models.TextChoices):
    OFF = "off", "Off: rules only"
    SHADOW = "shadow", "Shadow: score and record, route by rules"
    PREMIUM_SHARE = "share", "Target share of premium calls"
    QUALITY_FLOOR = "quality", "Quality floor"


class RouterSetting(TenantOwnedModel):
    """A tenant's dial for the learned router; the threshold is calibrated from it (router_model/dial.py)."""

    mode = models.CharField(max_length=10, choices=RouterMode.choices, default=RouterMode.SHADOW)
    premium_share = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of routed calls that should go to the premium tier.",
    )
    quality_floor = models.FloatField(
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Expected quality to keep, as a fraction of premium-only quality.",
    )
    share_labels = models.BooleanField(
        default=False,
        help_text="Pool this tenant's review labels with other tenants that opt in; use the pooled prior.",
    )
    threshold = models.FloatField(null=True, blank=True, editable=False)
    calibrated_version = models.CharField(max_length=40, blank=True, editable=False)
    calibration = models.JSONField(default=dict, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="router_setting_one_per_tenant")]

    def __str__(self) -> str:
        return f"Router dial of tenant {self.tenant_id}: {self.mode}"


class RouterPool(models.TextChoices):
    PUBLIC = "public", "Shared prior from public labels"
    OPT_IN = "opt_in", "Shared prior with the labels of tenants that opted in"
    TENANT = "tenant", "The tenant's own"


class ArtefactStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected in shadow"
    RETIRED = "retired", "Retired"


class RouterArtefact(TenantOrSharedModel):
    """One trained router: its parameters, how it was trained and evaluated, and its place in history.

    Shared priors have tenant NULL. At most one artefact per (tenant, pool) is active; the gateway loads
    the active one (router_model/store.py), so every process and host routes with the same version.
    """

    version = models.CharField(max_length=40, unique=True, help_text="Created time and content hash.")
    content_hash = models.CharField(max_length=64)
    pool = models.CharField(max_length=10, choices=RouterPool.choices)
    method = models.CharField(max_length=40)
    embedding_model = models.CharField(max_length=120)
    params = models.JSONField()
    training = models.JSONField(default=dict, blank=True)
    evaluation = models.JSONField(default=dict, blank=True)
    shadow = models.JSONField(default=dict, blank=True, help_text="Candidate against the active one.")
    status = models.CharField(max_length=10, choices=ArtefactStatus.choices, default=ArtefactStatus.CANDIDATE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pool"],
                condition=models.Q(status="active"),
                nulls_distinct=False,
                name="router_one_active_per_pool",
            )
        ]
        indexes = [models.Index(fields=["tenant", "pool", "-created_at"], name="router_artefact_recent")]

    def __str__(self) -> str:
        return f"router {self.version} ({self.status})"


class RouterLabel(TenantOwnedModel):
    """A reviewed draft as a label for the call that wrote it (collected by orchestrator/router_labels.py).

    `arm` is the side of the router's decision the call was on: "strong" for the premium tier, "weak"
    for a cheaper one. `quality` is 0 for a rejected draft and 1 - edit distance for an approved one.
    `engagement` is what the published post earned against its author's usual, in [0, 1] (0.5: as
    usual), set by publishing when metrics arrive; training blends it in (`labels.training_target`).
    """

    trace_id = models.UUIDField()
    draft_id = models.BigIntegerField()
    purpose = models.CharField(max_length=40)
    model_alias = models.CharField(max_length=80)
    tier = models.CharField(max_length=16)
    arm = models.CharField(max_length=8)
    text = models.TextField(help_text="The router's text of the call (its first user turn).")
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=120)
    quality = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    approved = models.BooleanField()
    edit_distance = models.FloatField(null=True, blank=True)
    critic_score = models.FloatField(null=True, blank=True)
    engagement = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Engagement rate against the author's recent median: r / (r + median).",
    )
    engagement_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "trace_id"], name="router_label_once_per_call")
        ]
        indexes = [models.Index(fields=["tenant", "decided_at"], name="router_label_recent")]

    def __str__(self) -> str:
        return f"label {self.arm} {self.quality:.2f} for trace {self.trace_id}"
