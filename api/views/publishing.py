"""Scheduled and delivered posts: list them, queue an approved draft, move, cancel or retry a post, let a
CRM mark it delivered with its own id, push its metrics, and export a date range (JSON, CSV, Markdown).

Posts are addressed by their own id; `draft` on a post is the draft it publishes (one post per draft).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api import publishing_serializers as s
from api.exceptions import ApiError
from api.models import Scope
from api.views.base import body_of, query_of
from api.views.content import ReadViewSet
from publishing import export, selectors, services
from publishing import metrics as post_metrics
from publishing.forms import MAX_EXPORT_DAYS
from publishing.models import MetricSource, PostStatus
from reviews import selectors as review_selectors


def _post_action(request_serializer=None):
    return extend_schema(request=request_serializer, responses=s.PostDetailSerializer)


class _ExportText(JSONRenderer):
    """Lets `Accept: text/csv` or `text/markdown` through content negotiation. The export writes its
    own body; an error is answered as JSON in the one error shape (PostViewSet.finalize_response)."""

    format = "export-text"  # never chosen by a `?format=` (DRF's override), only by Accept


class _CSVText(_ExportText):
    media_type = "text/csv"


class _MarkdownText(_ExportText):
    media_type = "text/markdown"


EXPORT_RENDERERS = [JSONRenderer, _CSVText, _MarkdownText]
EXPORT_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, '`{"posts": [...]}` (output=json).'),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, "One row per post (output=csv)."),
    (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, "One section per post (output=markdown)."),
    # A GET that the schema cannot tell is wrong: an end before the start, a range over 366 days.
    422: OpenApiResponse(
        inline_serializer(
            "PostExportRefusal",
            {
                "error": inline_serializer(
                    "PostExportRefusalError",
                    {
                        "code": serializers.CharField(),
                        "message": serializers.CharField(),
                        "details": serializers.DictField(),
                    },
                )
            },
        ),
        "The range is not one the export takes (the end before the start, or over 366 days).",
    ),
}


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.PostFilter]))
class PostViewSet(ReadViewSet):
    """The calendar's posts: scheduled, publishing, retrying, delivered, failed and cancelled."""

    required_scopes = {
        "create": Scope.REVIEW,
        "move": Scope.REVIEW,
        "cancel": Scope.REVIEW,
        "retry": Scope.REVIEW,
        "delivered": Scope.REVIEW,
        "metrics": Scope.REVIEW,
    }

    def get_serializer_class(self):
        return s.PostSerializer if self.action == "list" else s.PostDetailSerializer

    def get_queryset(self):
        if self.action != "list":
            return selectors.posts().select_related("metrics").prefetch_related("deliveries")
        query = query_of(s.PostFilter, self.request)
        return selectors.posts(
            start=query.get("start"),
            end=query.get("end"),
            author_id=query.get("author"),
            statuses=[query["status"]] if "status" in query else None,
            channel=query.get("channel"),
        ).select_related("metrics")

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400 and isinstance(
            getattr(request, "accepted_renderer", None), _ExportText
        ):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def _done(self, post_id: int) -> Response:
        return Response(s.PostDetailSerializer(self.get_queryset().get(pk=post_id)).data)

    @extend_schema(request=s.PostScheduleInput, responses={201: s.PostDetailSerializer})
    def create(self, request):
        """Queue an approved draft: at `at`, or into the author's next free slot."""
        data = body_of(s.PostScheduleInput, request)
        draft = review_selectors.access_draft(draft_id=data["draft"])
        post = services.post_schedule(
            draft=draft, user=self.principal.user, at=data.get("at"), channel=data.get("channel")
        )
        return Response(
            s.PostDetailSerializer(self.get_queryset().get(pk=post.pk)).data, status=status.HTTP_201_CREATED
        )

    @_post_action(s.PostMoveInput)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the post to `at`, or to the author's next free slot (a failed post is scheduled again)."""
        data = body_of(s.PostMoveInput, request)
        post = services.post_move(post=selectors.access_post(post_id=pk), at=data.get("at"))
        return self._done(post.pk)

    @_post_action()
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Take the post off the calendar; its draft stays approved."""
        post = services.post_cancel(post=selectors.access_post(post_id=pk))
        return self._done(post.pk)

    @_post_action()
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Send a failed post again now."""
        post = services.post_retry(post=selectors.access_post(post_id=pk))
        return self._done(post.pk)

    @_post_action(s.PostDeliveredInput)
    @action(detail=True, methods=["post"])
    def delivered(self, request, pk=None):
        """A CRM (or any system) published the post: record its id there; the draft becomes delivered.
        The same `external_id` again answers the post unchanged, so a CRM can retry safely."""
        data = body_of(s.PostDeliveredInput, request)
        post = services.post_mark_delivered(
            post=selectors.access_post(post_id=pk),
            external_id=data["external_id"],
            url=data.get("url", ""),
            user=self.principal.user,
        )
        return self._done(post.pk)

    @_post_action(s.PostMetricsInput)
    @action(detail=True, methods=["post"])
    def metrics(self, request, pk=None):
        """Push what a delivered post earned (replaces the counts stored before)."""
        data = body_of(s.PostMetricsInput, request)
        post = selectors.access_post(post_id=pk)
        if post.status != PostStatus.DELIVERED:
            raise ApiError(
                409, "conflict", f"Post {post.pk} is {post.status}: only delivered posts have metrics."
            )
        post_metrics.metrics_record(post=post, counts=data, source=MetricSource.API)
        return self._done(post.pk)

    @extend_schema(parameters=[s.PostExportFilter], responses=EXPORT_RESPONSES)
    @action(detail=False, methods=["get"], pagination_class=None, renderer_classes=EXPORT_RENDERERS)
    def export(self, request):
        """Every post of a date range (by its time, UTC) but cancelled ones, as JSON, CSV or Markdown."""
        query = query_of(s.PostExportFilter, request)
        if query["end"] < query["start"]:
            raise ApiError(
                422, "validation_error", "end is before start.", details={"end": ["Before start."]}
            )
        if query["end"] - query["start"] > timedelta(days=MAX_EXPORT_DAYS):
            message = f"At most {MAX_EXPORT_DAYS} days at a time."
            raise ApiError(422, "validation_error", message, details={"end": [message]})
        start = datetime.combine(query["start"], time(0), tzinfo=UTC)
        end = datetime.combine(query["end"] + timedelta(days=1), time(0), tzinfo=UTC)
        posts = (
            selectors.posts(start=start, end=end)
            .exclude(status=PostStatus.CANCELLED)
            .select_related("metrics")
        )
        rows = export.rows(posts)
        title = f"Posts {query['start']:%Y-%m-%d} to {query['end']:%Y-%m-%d}"
        body = export.render(rows, fmt=query["output"], title=title)
        return HttpResponse(body, content_type=f"{export.FORMATS[query['output']]}; charset=utf-8")
