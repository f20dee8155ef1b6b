"""Planning what gets posted: series (recurring themes that start flows), each author's posting
schedule, and the delivery records of posts, with a retry for a failed one.

Scopes follow the browser's roles: reading needs `read`; changing a series or a schedule is an editor's
(`admin`); planning or running a series starts flows (`generate`); retrying a delivery is a reviewer's
(`review`), as retrying a post is.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from api import publishing_serializers as s
from api.exceptions import ApiError
from api.models import Scope
from api.serializers import GenerationSerializer
from api.views.base import body_of, query_of
from api.views.content import ReadViewSet
from authors.selectors import access_author
from orchestrator.flows.series import series_run_now
from orchestrator.models import FlowRun
from orchestrator.selectors import access_series, series_list
from publishing import selectors, services
from publishing import series as series_planning
from publishing.models import DeliveryStatus

SERIES_FIELDS = {"flow": "flow_name"}  # API name -> model field, where they differ


@extend_schema_view(list=extend_schema(parameters=[s.SeriesFilter]))
class SeriesViewSet(ReadViewSet):
    """Series: an author's recurring theme; Celery beat starts its flow on `cron` (UTC) while active."""

    serializer_class = s.SeriesSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scopes = {
        "create": Scope.ADMIN,
        "partial_update": Scope.ADMIN,
        "pause": Scope.ADMIN,
        "resume": Scope.ADMIN,
        "plan": Scope.GENERATE,
        "run": Scope.GENERATE,
    }

    def get_queryset(self):
        series = series_list().order_by("id")
        if self.action != "list":
            return series
        query = query_of(s.SeriesFilter, self.request)
        if "author" in query:
            series = series.filter(author_id=query["author"])
        if "is_active" in query:
            series = series.filter(is_active=query["is_active"])
        return series

    def _done(self, series_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.SeriesSerializer(access_series(series_id=series_id)).data, status=code)

    @extend_schema(request=s.SeriesInput, responses={201: s.SeriesSerializer})
    def create(self, request):
        """A new series; `is_active: false` creates it paused."""
        data = body_of(s.SeriesInput, request)
        author = access_author(author_id=data.pop("author"))
        data["flow_name"] = data.pop("flow")
        created = services.series_create(author=author, user=self.principal.user, **data)
        return self._done(created.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.SeriesUpdateInput, responses=s.SeriesSerializer)
    def partial_update(self, request, pk=None):
        """Change some fields; what is not sent keeps its value."""
        series = access_series(series_id=pk)
        changes = body_of(s.SeriesUpdateInput, request)
        if "author" in changes:
            changes["author"] = access_author(author_id=changes["author"])
        changes = {SERIES_FIELDS.get(name, name): value for name, value in changes.items()}
        services.series_update(series=series, user=self.principal.user, **changes)
        return self._done(series.pk)

    @extend_schema(request=None, responses=s.SeriesSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop starting drafts on the schedule (drafts and plans already made stay)."""
        series = access_series(series_id=pk)
        services.series_set_active(series=series, active=False, user=self.principal.user)
        return self._done(series.pk)

    @extend_schema(request=None, responses=s.SeriesSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Start drafts on the schedule again."""
        series = access_series(series_id=pk)
        services.series_set_active(series=series, active=True, user=self.principal.user)
        return self._done(series.pk)

    @extend_schema(request=s.SeriesPlanInput, responses={201: s.SeriesPlanSerializer})
    @action(detail=True, methods=["post"])
    def plan(self, request, pk=None):
        """Start a draft of the series for each free slot of its author's schedule in the next `days`."""
        series = access_series(series_id=pk)
        days = body_of(s.SeriesPlanInput, request)["days"]
        planned = series_planning.series_plan(series=series, days=days, user=self.principal.user)
        return Response(s.SeriesPlanSerializer({"planned": planned}).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={202: OpenApiResponse(GenerationSerializer, "Started: one run now.")}
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Start one run of the series now, outside its schedule."""
        run = series_run_now(access_series(series_id=pk))
        run = FlowRun.objects.select_related("definition", "draft").get(pk=run.pk)
        return Response(GenerationSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ScheduleViewSet(ReadViewSet):
    """Each author's posting schedule: weekday times in the author's time zone, and the channel new
    posts go to. Addressed by the author's id; an author without one reads as empty, in UTC."""

    serializer_class = s.ScheduleSerializer
    lookup_url_kwarg = "author"
    http_method_names = ["get", "put", "head", "options"]
    required_scopes = {"update": Scope.ADMIN}

    def get_queryset(self):
        return selectors.schedules().order_by("id")

    def retrieve(self, request, author=None):
        schedule = services.schedule_of(author=access_author(author_id=author))
        return Response(s.ScheduleSerializer(schedule).data)

    @extend_schema(request=s.ScheduleInput, responses=s.ScheduleSerializer)
    def update(self, request, author=None):
        """Replace the schedule whole (an empty `slots` list leaves the author without slots)."""
        data = body_of(s.ScheduleInput, request)
        schedule = services.schedule_save(
            author=access_author(author_id=author),
            time_zone=data["time_zone"],
            slots=[dict(slot) for slot in data["slots"]],
            channel=data["channel"],
            user=self.principal.user,
        )
        return Response(s.ScheduleSerializer(schedule).data)


@extend_schema_view(list=extend_schema(parameters=[s.DeliveryFilter]))
class DeliveryViewSet(ReadViewSet):
    """Every delivery of a post to its channel: attempts, status, error and the id it got there."""

    serializer_class = s.DeliveryListSerializer
    required_scopes = {"retry": Scope.REVIEW}

    def get_queryset(self):
        if self.action != "list":
            return selectors.deliveries()
        query = query_of(s.DeliveryFilter, self.request)
        return selectors.deliveries(
            post_id=query.get("post"), status=query.get("status"), channel=query.get("channel")
        )

    @extend_schema(request=None, responses=s.PostDetailSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Send the failed post of a failed delivery again now (its next attempt is a new delivery);
        answers the post."""
        delivery = selectors.access_delivery(delivery_id=pk)
        if delivery.status != DeliveryStatus.FAILED:
            raise ApiError(
                409, "conflict", f"Delivery {delivery.pk} is {delivery.status}: only a failed one."
            )
        post = services.post_retry(post=delivery.post)
        post = selectors.posts().select_related("metrics").prefetch_related("deliveries").get(pk=post.pk)
        return Response(s.PostDetailSerializer(post).data)
