"""What Maestro learns from its writers: the lessons proposed from reviewers' edits and rejections
(kept as author memories once an editor accepts them), and prompt A/B experiments with their results.

Reading needs `read`. Deciding a learning, starting or stopping an experiment and choosing its winner
are an editor's (`admin`), as in the browser. A winner is never chosen by itself: the results only
suggest one, and `choose-winner` is the editor's explicit decision.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from api import learning_serializers as s
from api.models import Scope
from api.views.base import body_of, query_of
from api.views.content import ReadViewSet
from prompts import selectors as prompt_selectors
from prompts import services as prompt_services
from prompts.models import PromptExperiment
from publishing.metrics import experiment_results
from reviews import selectors as review_selectors
from reviews import services as reviews


@extend_schema_view(list=extend_schema(parameters=[s.LearningFilter]))
class LearningViewSet(ReadViewSet):
    """Learning proposals, newest first: by default those waiting for an editor (`status=proposed`)."""

    serializer_class = s.LearningSerializer
    required_scopes = {"accept": Scope.ADMIN, "dismiss": Scope.ADMIN}

    def get_queryset(self):
        if self.action != "list":
            return review_selectors.learning_proposals(status="")
        query = query_of(s.LearningFilter, self.request)
        proposals = review_selectors.learning_proposals(
            status="" if query["status"] == "all" else query["status"]
        )
        return proposals.filter(author_id=query["author"]) if "author" in query else proposals

    def _done(self, proposal_id: int) -> Response:
        return Response(s.LearningSerializer(review_selectors.access_proposal(proposal_id=proposal_id)).data)

    @extend_schema(request=s.LearningAcceptInput, responses=s.LearningSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Keep the lesson as a memory of the author (merged into a near-identical one), optionally
        reworded with `text`."""
        proposal = review_selectors.access_proposal(proposal_id=pk)
        text = body_of(s.LearningAcceptInput, request).get("text")
        reviews.learning_accept(proposal_id=proposal.pk, user=self.principal.user, text=text)
        return self._done(proposal.pk)

    @extend_schema(request=None, responses=s.LearningSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        """Drop the lesson: nothing is remembered."""
        proposal = review_selectors.access_proposal(proposal_id=pk)
        reviews.learning_dismiss(proposal_id=proposal.pk, user=self.principal.user)
        return self._done(proposal.pk)


def experiment_detail(experiment: PromptExperiment) -> dict:
    outcomes = prompt_selectors.prompt_outcome_stats(
        versions=[experiment.version_a, experiment.version_b], experiment=experiment
    )
    context = {"results": experiment_results(experiment=experiment), "outcomes": outcomes}
    return s.ExperimentDetailSerializer(experiment, context=context).data


@extend_schema_view(list=extend_schema(parameters=[s.ExperimentFilter]))
class ExperimentViewSet(ReadViewSet):
    """A/B splits of a prompt template's production traffic; the detail has their results."""

    required_scopes = {
        "create": Scope.ADMIN,
        "stop": Scope.ADMIN,
        "choose_winner": Scope.ADMIN,
    }

    def get_serializer_class(self):
        return s.ExperimentSerializer if self.action == "list" else s.ExperimentDetailSerializer

    def get_queryset(self):
        experiments = PromptExperiment.objects.select_related("template", "version_a", "version_b")
        if self.action != "list":
            return experiments
        query = query_of(s.ExperimentFilter, self.request)
        if "template" in query:
            experiments = experiments.filter(template_id=query["template"])
        if "running" in query:
            experiments = experiments.filter(stopped_at__isnull=query["running"])
        return experiments

    def retrieve(self, request, pk=None):
        """The experiment with its engagement results (significance, a suggested winner) and each
        variant's review outcomes."""
        return Response(experiment_detail(self.get_object()))

    def _done(self, experiment_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(experiment_detail(self.get_queryset().get(pk=experiment_id)), status=code)

    @extend_schema(request=s.ExperimentInput, responses={201: s.ExperimentDetailSerializer})
    def create(self, request):
        """Start an experiment: A is the template's production version, B gets `share_b` percent."""
        data = body_of(s.ExperimentInput, request)
        template = prompt_selectors.access_prompt_template(template_id=data["template"])
        version_b = prompt_selectors.access_prompt_version(version_id=data["version_b"])
        experiment = prompt_services.prompt_experiment_start(
            template=template, version_b=version_b, share_b=data["share_b"], actor=self.principal.user
        )
        return self._done(experiment.pk, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ExperimentDetailSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop the split: all traffic goes back to production (no winner chosen)."""
        experiment = prompt_selectors.access_prompt_experiment(experiment_id=pk)
        prompt_services.prompt_experiment_stop(
            experiment=experiment, actor=self.principal.user, note="Stopped over the API."
        )
        return self._done(experiment.pk)

    @extend_schema(request=s.ExperimentWinnerInput, responses=s.ExperimentDetailSerializer)
    @action(detail=True, methods=["post"], url_path="choose-winner")
    def choose_winner(self, request, pk=None):
        """The editor's decision: `B` makes its version production; `A` keeps production. Either way the
        experiment stops. Nothing else ever chooses a winner."""
        experiment = prompt_selectors.access_prompt_experiment(experiment_id=pk)
        variant = body_of(s.ExperimentWinnerInput, request)["variant"]
        prompt_services.prompt_experiment_choose_winner(
            experiment=experiment, variant=variant, actor=self.principal.user
        )
        return self._done(experiment.pk)
