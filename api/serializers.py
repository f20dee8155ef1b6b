"""What the API shows and accepts. Output serializers are read-only model views; input serializers
only parse and validate: writes go through each app's services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from authors.models import Author, StyleProfile
from gateway.models import Trace, TraceStatus
from memories import selectors as memory_selectors
from memories.models import Memory, MemoryConflict
from orchestrator.models import FlowRun, RunStatus, StepRun
from prompts.models import ModelTier, PromptTemplate, PromptVersion, Purpose
from reviews.models import Draft, DraftState

# ---- authors and style profiles -------------------------------------------------------------------


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name", "headline", "audience", "language", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "is_active", "created_at", "updated_at"]
        # Uniqueness is the service's to say.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}


class StyleProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = StyleProfile
        fields = [
            "id", "author", "version", "tone", "vocabulary_prefer", "vocabulary_avoid", "banned_phrases",
            "formatting", "sample_posts", "source", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "author", "version", "source", "created_at"]


class StyleProfileInput(serializers.Serializer):
    tone = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    vocabulary_prefer = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    vocabulary_avoid = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    banned_phrases = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    formatting = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    sample_posts = serializers.ListField(child=serializers.CharField(max_length=8000), required=False)


# ---- memories ---------------------------------------------------------------------------------------


class MemorySerializer(serializers.ModelSerializer):
    contradicts = serializers.SerializerMethodField(
        help_text="Valid memories this one contradicts, waiting for an editor: supersede or keep both."
    )

    class Meta:
        model = Memory
        fields = [
            "id", "author", "kind", "text", "source", "importance", "valid_from", "valid_until",
            "superseded_by", "contradicts", "merge_count", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_contradicts(self, memory: Memory) -> list[int]:
        pending = getattr(memory, "pending_conflicts", None)  # prefetched by memories_list
        if pending is None:
            pending = memory_selectors.pending_conflicts().filter(memory=memory)
        return [conflict.contradicts_id for conflict in pending]


class MemoryConflictSerializer(serializers.ModelSerializer):
    class Meta:
        model = MemoryConflict
        fields = ["id", "memory", "contradicts", "probability", "status", "resolved_at", "created_at"]
        read_only_fields = fields


class MemoryInput(serializers.Serializer):
    author = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=Memory.Kind.choices)
    text = serializers.CharField(max_length=2000)
    importance = serializers.IntegerField(min_value=1, max_value=5, default=3)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)


class MemoryUpdateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Memory.Kind.choices, required=False)
    text = serializers.CharField(max_length=2000, required=False)
    importance = serializers.IntegerField(min_value=1, max_value=5, required=False)
    valid_from = serializers.DateTimeField(required=False)
    valid_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="null: valid again (and no longer superseded)."
    )


class MemorySupersedeInput(serializers.Serializer):
    successor = serializers.IntegerField(min_value=1, help_text="The valid memory that replaces this one.")


class MemoryKeepBothInput(serializers.Serializer):
    other = serializers.IntegerField(min_value=1, help_text="The memory flagged as contradicting this one.")


class MemoryFilter(serializers.Serializer):
    author = serializers.IntegerField(min_value=1, required=False)
    kind = serializers.ChoiceField(choices=Memory.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=["valid", "expired", "all"], default="valid")
    history = serializers.BooleanField(
        required=False, default=False, help_text="Also memories no longer valid (as status=all)."
    )


class MemoryConflictFilter(serializers.Serializer):
    author = serializers.IntegerField(min_value=1, required=False)


class MemorySearchQuery(serializers.Serializer):
    author = serializers.IntegerField(min_value=1)
    q = serializers.CharField(max_length=2000)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=8)
    kind = serializers.ChoiceField(choices=Memory.Kind.choices, required=False)
    history = serializers.BooleanField(
        required=False, default=False, help_text="Also memories no longer valid (expired or superseded)."
    )


class ScoredMemorySerializer(serializers.Serializer):
    memory = MemorySerializer()
    score = serializers.FloatField()
    similarity = serializers.FloatField(allow_null=True)
    keyword_coverage = serializers.FloatField()
    explanation = serializers.CharField(source="explain")


# ---- prompts ----------------------------------------------------------------------------------------


class PromptTemplateSerializer(serializers.ModelSerializer):
    shared = serializers.BooleanField(source="is_shared", read_only=True)

    class Meta:
        model = PromptTemplate
        fields = ["id", "purpose", "name", "description", "shared", "created_at"]
        read_only_fields = fields


class PromptVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PromptVersion
        fields = [
            "id", "template", "number", "messages", "variables", "tier", "temperature", "max_tokens",
            "change_note", "based_on", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromptMessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(max_length=60000)


class _PromptContentInput(serializers.Serializer):
    """What a version is made of; the template and version inputs add their own fields."""

    messages = PromptMessageInput(many=True, allow_empty=False)
    variables = serializers.ListField(child=serializers.DictField(), default=list)
    tier = serializers.ChoiceField(choices=ModelTier.choices, default=ModelTier.STANDARD)
    # A JSON number, as OpenAI's APIs take it; the service keeps two decimals.
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)
    max_tokens = serializers.IntegerField(min_value=16, max_value=32000, default=800)
    change_note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class PromptVersionInput(_PromptContentInput):
    make_production = serializers.BooleanField(default=True)


class PromptTemplateInput(_PromptContentInput):
    """A new template's v1 is always production."""

    purpose = serializers.ChoiceField(choices=Purpose.choices)
    name = serializers.SlugField(max_length=60, default="default")
    description = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class PromptFilter(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False)


# ---- flows, generations, drafts ---------------------------------------------------------------------


class StepRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepRun
        fields = [
            "key",
            "step_type",
            "status",
            "cost_micros",
            "attempts",
            "error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class GenerationSerializer(serializers.ModelSerializer):
    flow = serializers.CharField(source="definition.name", read_only=True)
    draft = serializers.SerializerMethodField()

    class Meta:
        model = FlowRun
        fields = [
            "id", "flow", "author", "brief", "status", "error", "draft", "idempotency_key", "cost_micros",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_draft(self, run: FlowRun) -> int | None:
        draft = getattr(run, "draft", None) if hasattr(run, "draft") else None
        return draft.pk if draft else None


class GenerationDetailSerializer(GenerationSerializer):
    steps = StepRunSerializer(source="step_runs", many=True, read_only=True)

    class Meta(GenerationSerializer.Meta):
        fields = [*GenerationSerializer.Meta.fields, "steps"]
        read_only_fields = fields


class GenerationInput(serializers.Serializer):
    author = serializers.IntegerField(min_value=1)
    brief = serializers.CharField(max_length=8000)
    flow = serializers.SlugField(max_length=60, default="post")


class GenerationFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    author = serializers.IntegerField(min_value=1, required=False)


class DraftSerializer(serializers.ModelSerializer):
    generation = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)
    flow = serializers.CharField(source="flow_name", read_only=True)

    class Meta:
        model = Draft
        fields = [
            "id", "author", "flow", "generation", "brief", "state", "body", "original_body", "critique",
            "claimed_by", "claim_expires_at", "assigned_to", "edit_distance", "cost_micros", "created_at",
            "updated_at", "decided_at",
        ]  # fmt: skip
        read_only_fields = fields


class DraftFilter(serializers.Serializer):
    state = serializers.ChoiceField(choices=DraftState.choices, required=False)
    author = serializers.IntegerField(min_value=1, required=False)
    flow = serializers.SlugField(max_length=60, required=False)


class DraftBodyInput(serializers.Serializer):
    body = serializers.CharField(max_length=20000)


class DraftApproveInput(serializers.Serializer):
    body = serializers.CharField(max_length=20000, required=False)


class DraftRejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=4000)


class DraftChangesInput(serializers.Serializer):
    instructions = serializers.CharField(max_length=4000)


class DraftNextInput(serializers.Serializer):
    author = serializers.IntegerField(required=False, min_value=1)


class DraftAssignInput(serializers.Serializer):
    assignee = serializers.EmailField(allow_null=True, help_text="A member's email; null unassigns.")


# ---- traces and usage -------------------------------------------------------------------------------


class TraceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trace
        fields = [
            "id", "created_at", "purpose", "status", "error_code", "model_alias", "author_id", "flow_run_id",
            "step", "api_key_id", "input_tokens", "output_tokens", "cost_micros", "latency_ms", "ttft_ms",
            "cache_hit", "streamed",
        ]  # fmt: skip
        read_only_fields = fields


class TraceDetailSerializer(TraceSerializer):
    class Meta(TraceSerializer.Meta):
        fields = [*TraceSerializer.Meta.fields, "error_message", "routing", "attempts", "prompt", "response"]
        read_only_fields = fields


class TraceFilter(serializers.Serializer):
    model = serializers.CharField(max_length=80, required=False)
    purpose = serializers.CharField(max_length=40, required=False)
    status = serializers.ChoiceField(choices=TraceStatus.choices, required=False)
    author = serializers.IntegerField(min_value=1, required=False)
    flow_run = serializers.IntegerField(min_value=1, required=False)
    from_ = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # "from" is a keyword in Python, not in query strings
        return fields


class UsageQuery(TraceFilter):
    group_by = serializers.ChoiceField(choices=["day", "model", "author", "flow"], default="day")

    def get_fields(self):
        fields = super().get_fields()
        for name in ("model", "purpose", "status", "author", "flow_run"):
            fields.pop(name)
        return fields


class UsageRowSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True)
    calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_micros = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    results = UsageRowSerializer(many=True)
    total_cost_micros = serializers.IntegerField()
