from django.contrib import admin

from memories import services
from memories.models import Memory, MemoryConflict

EDITABLE = ["kind", "text", "importance", "valid_from", "valid_until"]


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = [
        "short_text",
        "author",
        "tenant",
        "kind",
        "importance",
        "valid_until",
        "merge_count",
        "created_at",
    ]
    list_filter = ["kind", "source", "tenant", "embedding_model"]
    search_fields = ["text", "author__name", "tenant__name"]
    list_select_related = ["author", "tenant"]
    # The vector and the generated tsvector derive from the text; everything else is history.
    fields = [
        "tenant",
        "author",
        *EDITABLE,
        "source",
        "source_ref",
        "embedding_model",
        "text_search_config",
        "merge_count",
        "last_merged_at",
        "superseded_by",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "tenant",
        "author",
        "source",
        "source_ref",
        "embedding_model",
        "text_search_config",
        "merge_count",
        "last_merged_at",
        "superseded_by",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="text")
    def short_text(self, obj: Memory) -> str:
        return obj.text[:80]

    def has_add_permission(self, request) -> bool:
        # New memories need an embedding and de-duplication: they come through memories.services.
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so a changed text is embedded again.
        original = Memory.objects.get(pk=obj.pk)
        services.memory_update(memory=original, **{name: form.cleaned_data[name] for name in EDITABLE})


@admin.register(MemoryConflict)
class MemoryConflictAdmin(admin.ModelAdmin):
    """Read-only: editors decide contradictions on the memories page, where the decision is recorded."""

    list_display = ["memory", "contradicts", "status", "probability", "tenant", "created_at", "resolved_at"]
    list_filter = ["status", "tenant"]
    list_select_related = ["memory", "contradicts", "tenant"]
    readonly_fields = [field.name for field in MemoryConflict._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
