"""Flows, generation requests (flow runs) and the drafts they produce, with the review actions.

Review actions over the API act as the caller: a member with a session acts as themself; an API key
acts as its own service user (`ApiKey.identity`), so every claim, edit and decision is recorded
against the key that made it, and survives the admin who created the key leaving the tenant.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.exceptions import ApiError
from api.models import Scope
from api.views.base import body_of, query_of
from api.views.content import ReadViewSet
from authors.selectors import access_author
from orchestrator.flows.services import draft_revise, flow_start, run_regenerate
from orchestrator.models import FlowRun
from reviews import selectors as review_selectors
from reviews import services as reviews
from reviews.models import Draft
from tenants.selectors import member_user_by_email

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 80


def _idempotency_key(request, principal) -> str:
    raw = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if not raw:
        return ""
    if len(raw) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            400, "validation_error", f"{IDEMPOTENCY_HEADER} is at most {MAX_IDEMPOTENCY_KEY} characters."
        )
    # Namespaced by caller, so two CRMs of one tenant never receive each other's runs.
    owner = f"key{principal.api_key_id}" if principal.api_key else f"user{principal.user.pk}"
    return f"{owner}:{raw}"


def _same_request(run: FlowRun, data: dict) -> bool:
    return (
        run.author_id == data["author"]
        and run.brief == data["brief"].strip()
        and run.definition.name == data["flow"]
    )


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.GenerationFilter]))
class GenerationViewSet(ReadViewSet):
    """Generation requests: each starts a flow for an author and a brief; a worker runs it."""

    required_scopes = {"create": Scope.GENERATE, "regenerate": Scope.GENERATE}

    def get_serializer_class(self):
        return s.GenerationDetailSerializer if self.action == "retrieve" else s.GenerationSerializer

    def get_queryset(self):
        runs = FlowRun.objects.select_related("definition", "draft")
        if self.action == "retrieve":
            return runs.prefetch_related("step_runs")
        query = query_of(s.GenerationFilter, self.request) if self.action == "list" else {}
        if "status" in query:
            runs = runs.filter(status=query["status"])
        if "author" in query:
            runs = runs.filter(author_id=query["author"])
        return runs

    @extend_schema(
        request=s.GenerationInput,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
        responses={
            202: OpenApiResponse(s.GenerationSerializer, "Started."),
            200: OpenApiResponse(s.GenerationSerializer, "A retry with the same Idempotency-Key."),
        },
    )
    def create(self, request):
        """Start a flow. With an `Idempotency-Key` header a retry returns the first run (200)."""
        data = body_of(s.GenerationInput, request)
        key = _idempotency_key(request, self.principal)
        author = access_author(author_id=data["author"])
        run, created = flow_start(
            author=author,
            brief=data["brief"],
            flow_name=data["flow"],
            created_by=self.principal.user,
            api_key_id=self.principal.api_key_id,
            idempotency_key=key,
            # The key's token budget per minute also governs the model calls the flow makes.
            inputs={"api_key_tokens_per_minute": getattr(self.principal.api_key, "tokens_per_minute", 0)},
            require_queue=True,  # a broker that is down answers 503 at once; the run is kept
        )
        if not created and not _same_request(run, data):
            raise ApiError(
                422, "idempotency_key_reused", "This Idempotency-Key was used for a different request."
            )
        run = self.get_queryset().get(pk=run.pk)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(s.GenerationSerializer(run).data, status=code)

    @extend_schema(
        request=None,
        responses={202: OpenApiResponse(s.GenerationSerializer, "Started: the same brief, written afresh.")},
    )
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        """Try again: a new run of the same flow, author and brief whose model calls are never
        answered from the cache (their fresh answers are stored)."""
        run = run_regenerate(
            run=self.get_object(),
            created_by=self.principal.user,
            api_key_id=self.principal.api_key_id,
            require_queue=True,  # a broker that is down answers 503 at once; the run is kept
        )
        run = FlowRun.objects.select_related("definition", "draft").get(pk=run.pk)
        return Response(s.GenerationSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _draft_action(request_serializer=None):
    return extend_schema(request=request_serializer, responses=s.DraftSerializer)


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.DraftFilter]))
class DraftViewSet(ReadViewSet):
    """Drafts and the review queue. Act on a draft: claim it, then edit, approve or reject it."""

    serializer_class = s.DraftSerializer
    required_scopes = {
        "claim": Scope.REVIEW,
        "release": Scope.REVIEW,
        "edit": Scope.REVIEW,
        "approve": Scope.REVIEW,
        "reject": Scope.REVIEW,
        "request_changes": Scope.REVIEW,
        "assign": Scope.REVIEW,
        "next": Scope.REVIEW,
    }

    def get_queryset(self):
        drafts = Draft.objects.all()
        if self.action != "list":
            return drafts
        query = query_of(s.DraftFilter, self.request)
        for field, lookup in (("state", "state"), ("author", "author_id"), ("flow", "flow_name")):
            if field in query:
                drafts = drafts.filter(**{lookup: query[field]})
        return drafts

    def _done(self, draft_id: int) -> Response:
        return Response(s.DraftSerializer(review_selectors.access_draft(draft_id=draft_id)).data)

    def _act(self, pk, service, **arguments) -> Response:
        draft = review_selectors.access_draft(draft_id=pk)  # 404 for missing and foreign before any lock
        service(draft_id=draft.pk, user=self.principal.user, **arguments)
        return self._done(draft.pk)

    @_draft_action()
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        """Take the draft for review (a 15-minute lease)."""
        return self._act(pk, reviews.draft_claim)

    @_draft_action()
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Give a claimed draft back to the queue."""
        return self._act(pk, reviews.draft_release)

    @_draft_action(s.DraftBodyInput)
    @action(detail=True, methods=["post"])
    def edit(self, request, pk=None):
        """Replace the body of a draft you have claimed."""
        return self._act(pk, reviews.draft_edit, **body_of(s.DraftBodyInput, request))

    @_draft_action(s.DraftApproveInput)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve as written, or with a final `body` (needs a claim)."""
        return self._act(pk, reviews.draft_approve, body=body_of(s.DraftApproveInput, request).get("body"))

    @_draft_action(s.DraftRejectInput)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject with a reason; the reason becomes feedback for the author's next drafts."""
        return self._act(pk, reviews.draft_reject, **body_of(s.DraftRejectInput, request))

    @extend_schema(request=s.DraftNextInput, responses={200: s.DraftSerializer, 204: None})
    @action(detail=False, methods=["post"])
    def next(self, request):
        """Claim the oldest draft waiting for review (optionally of one author); 204 when none waits."""
        author_id = body_of(s.DraftNextInput, request).get("author")
        draft = reviews.draft_claim_next(user=self.principal.user, author_id=author_id)
        if draft is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._done(draft.pk)

    @_draft_action(s.DraftAssignInput)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assign the draft to a member by email (only they can claim it), or unassign with null."""
        email = body_of(s.DraftAssignInput, request).get("assignee")
        assignee = member_user_by_email(email=email) if email else None
        if email and assignee is None:
            raise ApiError(422, "not_a_member", f"{email} is not a member of this tenant.")
        draft = review_selectors.access_draft(draft_id=pk)
        reviews.draft_assign(draft_id=draft.pk, assignee=assignee, actor=self.principal.user)
        return self._done(draft.pk)

    @_draft_action(s.DraftChangesInput)
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request, pk=None):
        """Send a claimed draft back through the flow's revise step."""
        return self._act(pk, draft_revise, **body_of(s.DraftChangesInput, request))
