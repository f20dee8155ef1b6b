"""What the learning endpoints show and accept (api/views/learning.py): the lessons proposed from
reviewers' edits and rejections, and prompt A/B experiments with their results."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from prompts.models import PromptExperiment
from reviews.models import LearningProposal

MAX_ID = 2**63 - 1

# ---- learnings -------------------------------------------------------------------------------------------


class LearningSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(
        read_only=True, help_text="The memory kind it becomes: learning, feedback..."
    )

    class Meta:
        model = LearningProposal
        fields = ["id", "draft", "author", "kind", "text", "status", "decided_by", "created_at"]
        read_only_fields = fields


class LearningFilter(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[*LearningProposal.Status.values, "all"], default=LearningProposal.Status.PROPOSED
    )
    author = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class LearningAcceptInput(serializers.Serializer):
    text = serializers.CharField(
        max_length=2000, required=False, help_text="The lesson in the editor's words; absent: as proposed."
    )


# ---- experiments -----------------------------------------------------------------------------------------


class ExperimentSerializer(serializers.ModelSerializer):
    is_running = serializers.BooleanField(read_only=True)

    class Meta:
        model = PromptExperiment
        fields = [
            "id", "template", "version_a", "version_b", "share_b", "is_running", "started_by", "started_at",
            "stopped_at",
        ]  # fmt: skip
        read_only_fields = fields


class EngagementTotalsSerializer(serializers.Serializer):
    impressions = serializers.IntegerField()
    reactions = serializers.IntegerField()
    comments = serializers.IntegerField()
    reposts = serializers.IntegerField()


class ExperimentResultSerializer(serializers.Serializer):
    """publishing.metrics.experiment_results: engagement of the delivered posts of each variant."""

    a = EngagementTotalsSerializer()
    b = EngagementTotalsSerializer()
    rate_a = serializers.FloatField(allow_null=True)
    rate_b = serializers.FloatField(allow_null=True)
    z = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    suggested_winner = serializers.CharField(
        allow_null=True, help_text="A, B, or null: only a suggestion, an editor chooses (choose-winner)."
    )
    reason = serializers.CharField()


class OutcomeSerializer(serializers.Serializer):
    """What became of each variant's drafts (approved or not, how much edited, what it cost)."""

    version = serializers.IntegerField(source="version.pk")
    count = serializers.IntegerField()
    approval_rate = serializers.FloatField(allow_null=True)
    mean_edit_distance = serializers.FloatField(allow_null=True)
    mean_cost_micros = serializers.FloatField(allow_null=True)


class ExperimentDetailSerializer(ExperimentSerializer):
    results = serializers.SerializerMethodField()
    outcomes = serializers.SerializerMethodField()

    class Meta(ExperimentSerializer.Meta):
        fields = [*ExperimentSerializer.Meta.fields, "results", "outcomes"]
        read_only_fields = fields

    @extend_schema_field(ExperimentResultSerializer)
    def get_results(self, experiment: PromptExperiment) -> dict:
        return ExperimentResultSerializer(self.context["results"]).data

    @extend_schema_field(OutcomeSerializer(many=True))
    def get_outcomes(self, experiment: PromptExperiment) -> list[dict]:
        return list(OutcomeSerializer(self.context["outcomes"], many=True).data)


class ExperimentFilter(serializers.Serializer):
    template = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    running = serializers.BooleanField(required=False, help_text="Only running (true) or stopped (false).")


class ExperimentInput(serializers.Serializer):
    template = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    version_b = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="A version of the template; A is its production version."
    )
    share_b = serializers.IntegerField(min_value=0, max_value=100, help_text="Percent of traffic for B.")


class ExperimentWinnerInput(serializers.Serializer):
    variant = serializers.ChoiceField(
        choices=["A", "B"], help_text="B: its version becomes production. A: production stays. Both stop it."
    )
