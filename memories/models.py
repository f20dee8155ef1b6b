"""What Maestro remembers about an author: cases, key phrases, learnings, facts and feedback.

A memory belongs to one tenant and one author, is valid from `valid_from` until `valid_until`
(NULL: still valid), and carries its embedding (pgvector, HNSW-indexed) and a generated `tsvector`
(GIN-indexed) so retrieval can mix meaning and exact words. A memory replaced by a newer one keeps
a link to it (`superseded_by`); a new memory that contradicts a valid one is recorded as a
`MemoryConflict` until an editor decides. See docs/memories.md.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from memories.text_search import SIMPLE
from tenants.scoping import TenantOwnedModel

EMBEDDING_DIMENSIONS = 384


class RegConfigField(models.CharField):
    """A PostgreSQL `regconfig` (text-search configuration name), so a generated column may use it.

    Casting text to regconfig is not immutable, so a plain varchar could not feed `to_tsvector`
    in a generated column; a column of the type itself can.
    """

    def db_type(self, connection) -> str:
        return "regconfig"


class Memory(TenantOwnedModel):
    class Kind(models.TextChoices):
        CASE = "case", "Case"
        KEY_PHRASE = "key_phrase", "Key phrase"
        LEARNING = "learning", "Learning"
        FACT = "fact", "Fact"
        FEEDBACK = "feedback", "Feedback"

    class Source(models.TextChoices):
        MANUAL = "manual", "Added by hand"
        DRAFT = "draft", "From a draft"
        EDIT = "edit", "From an editor's edit"

    author = models.ForeignKey("authors.Author", on_delete=models.CASCADE, related_name="memories")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_ref = models.CharField(
        max_length=64, blank=True, help_text="What it came from, e.g. draft:123 (empty for manual)."
    )
    importance = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="1 (nice to know) to 5 (always keep in mind).",
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Empty: still valid.")
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=100)
    text_search_config = RegConfigField(max_length=32, default=SIMPLE, editable=False)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=models.F("text_search_config")),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    merge_count = models.PositiveIntegerField(default=0, help_text="Near-duplicates merged into this one.")
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supersedes",
        help_text="The memory that replaced this one (it stopped being valid then).",
    )
    last_merged_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "memories"
        indexes = [
            models.Index(fields=["tenant", "author", "kind"], name="memory_tenant_author_kind"),
            HnswIndex(
                name="memory_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="memory_search_vector_gin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(importance__gte=1, importance__lte=5), name="memory_importance_1_to_5"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
                name="memory_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=~models.Q(superseded_by=models.F("id")), name="memory_not_superseded_by_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"

    def is_valid_at(self, moment) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or self.valid_until > moment)

    @property
    def refreshed_at(self):
        """When this memory was last confirmed: created, or met again as a near-duplicate."""
        return max(filter(None, [self.created_at, self.last_merged_at]))


class MemoryConflict(TenantOwnedModel):
    """A new memory that contradicts one of the author's valid memories: same subject, another value.

    Pending until an editor decides: supersede (the older memory stops being valid and links to the
    newer one) or keep both (they are two facts after all).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "To decide"
        SUPERSEDED = "superseded", "Superseded"
        KEPT = "kept", "Both kept"

    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="conflicts")
    contradicts = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="contradicted_by")
    probability = models.FloatField(help_text="How sure the detector is that both state the same subject.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"], name="memory_conflict_tenant_status")]
        constraints = [
            models.UniqueConstraint(fields=["memory", "contradicts"], name="memory_conflict_once_per_pair"),
            models.CheckConstraint(
                condition=~models.Q(memory=models.F("contradicts")), name="memory_conflict_two_memories"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.memory_id} contradicts #{self.contradicts_id} ({self.status})"
