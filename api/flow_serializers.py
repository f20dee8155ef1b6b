"""Serializers of flow definitions, their versions, dry runs and the secrets HTTP steps use."""

from __future__ import annotations

from rest_framework import serializers

from orchestrator.flows.definitions import MAX_STEPS
from orchestrator.models import FlowDefinition, FlowSecret

STEPS_HELP = (
    "The steps, in order: objects with an `id`, a `type` (retrieve, generate, critique, revise, transform, "
    "http, branch, fanout) and that type's options (docs/flows-and-reviews.md)."
)


class FlowSerializer(serializers.Serializer):
    """One flow in the list: the shape `/flows` always had, plus its versions."""

    name = serializers.CharField()
    description = serializers.CharField(help_text="The name and the live version's description.")
    live_version = serializers.IntegerField(allow_null=True, help_text="Null: no version is live.")
    versions = serializers.IntegerField()
    own = serializers.BooleanField(help_text="The tenant has versions of its own (else only Maestro's).")


class FlowListFilter(serializers.Serializer):
    all = serializers.BooleanField(
        required=False, default=False, help_text="Also flows with no live version (saved, never activated)."
    )


class FlowVersionSerializer(serializers.ModelSerializer):
    shared = serializers.BooleanField(source="is_shared", read_only=True, help_text="Maestro's version.")
    live = serializers.SerializerMethodField()

    class Meta:
        model = FlowDefinition
        fields = [
            "id",
            "name",
            "version",
            "description",
            "steps",
            "is_active",
            "live",
            "shared",
            "created_at",
        ]
        read_only_fields = fields

    def get_live(self, definition: FlowDefinition) -> bool:
        return bool(getattr(definition, "live", definition.is_active))


class FlowDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    live = FlowVersionSerializer(allow_null=True)
    versions = FlowVersionSerializer(many=True)


class FlowVersionInput(serializers.Serializer):
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    steps = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_STEPS, help_text=STEPS_HELP
    )
    activate = serializers.BooleanField(
        required=False, default=False, help_text="Make it the live version at once (else: dry-run it first)."
    )


class FlowCreateInput(FlowVersionInput):
    name = serializers.SlugField(max_length=60)


class FlowDiffQuery(serializers.Serializer):
    from_version = serializers.IntegerField(min_value=1)
    to_version = serializers.IntegerField(min_value=1)


class FlowDiffLineSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="hunk, context, added or removed")
    text = serializers.CharField()


class FlowDiffSerializer(serializers.Serializer):
    name = serializers.CharField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    lines = FlowDiffLineSerializer(many=True, help_text="Empty when the two versions say the same.")


class DryRunInput(serializers.Serializer):
    author = serializers.IntegerField(min_value=1)
    brief = serializers.CharField(max_length=8000)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version to try (default: the newest)."
    )


class DryRunCallSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    prompt = serializers.CharField()
    messages = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    times = serializers.IntegerField(help_text="How often the step may make this call at most.")
    model = serializers.CharField()
    tier = serializers.CharField()
    chain = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())
    estimated_prompt_tokens = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField()
    max_cost_micros = serializers.IntegerField()


class DryRunStepSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    summary = serializers.CharField()
    calls = DryRunCallSerializer(many=True)
    request = serializers.DictField(allow_null=True, help_text="An HTTP step's request, its secret masked.")
    output = serializers.DictField()
    problems = serializers.ListField(child=serializers.CharField())


class DryRunSerializer(serializers.Serializer):
    flow = serializers.CharField()
    version = serializers.IntegerField()
    author = serializers.CharField()
    brief = serializers.CharField()
    steps = DryRunStepSerializer(many=True)
    problems = serializers.ListField(child=serializers.CharField())
    max_calls = serializers.IntegerField()
    max_cost_micros = serializers.IntegerField(help_text="An upper bound; the dry run itself spent nothing.")
    note = serializers.CharField()


class FlowSecretSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlowSecret
        fields = ["name", "mask", "created_at", "updated_at"]
        read_only_fields = fields


class FlowSecretCreatedSerializer(FlowSecretSerializer):
    value = serializers.CharField(
        allow_null=True, help_text="The generated secret, shown this once; null when you gave the value."
    )

    class Meta(FlowSecretSerializer.Meta):
        fields = [*FlowSecretSerializer.Meta.fields, "value"]
        read_only_fields = fields


class FlowSecretInput(serializers.Serializer):
    name = serializers.SlugField(max_length=60)
    value = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: Maestro generates one (returned once). A secret of that name is replaced.",
        style={"input_type": "password"},
    )
