"""Flow definitions over the API: list, create, new versions, diff, activate (or roll back) and dry-run
them; and the secrets their HTTP steps send or sign with (names and masks only, never a value).

    GET  /flows                                the flows (`?all=true`: also those with no live version)
    POST /flows                                a new flow: its first version
    GET  /flows/{name}                         its live version and every version
    GET  /flows/{name}/versions                versions, newest first (paginated)
    POST /flows/{name}/versions                a new version (of Maestro's flow: the tenant's own copy)
    GET  /flows/{name}/versions/{version}      one version
    POST /flows/{name}/versions/{version}/activate   make it live (a rollback when it is older)
    GET  /flows/{name}/diff?from_version=&to_version=
    POST /flows/{name}/dry-run                 what a version would do for an author and a brief
    GET|POST /flow-secrets, DELETE /flow-secrets/{name}

Reads need the `read` scope; every change and the dry run need `admin` (editors, in the browser).
`urlpatterns` at the bottom is what api/urls.py mounts.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from api import flow_serializers as s
from api.authentication import Principal
from api.exceptions import ApiError
from api.models import Scope
from api.pagination import Cursor
from api.views.base import TenantScopedView, body_of, query_of
from authors.selectors import access_author
from orchestrator import selectors
from orchestrator.flows.dry_run import flow_dry_run
from orchestrator.flows.editing import (
    flow_definition_activate,
    flow_definition_save,
    flow_secret_delete,
    flow_secret_set,
)
from orchestrator.models import FlowDefinition

NAME = r"[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?"
VERSION_PARAMETER = OpenApiParameter("version", int, OpenApiParameter.PATH)
NAME_PARAMETER = OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=f"^{NAME}$")


def _flow_row(summary: selectors.FlowSummary) -> dict:
    live = summary.live
    description = live.description if live else ""
    return {
        "name": summary.name,
        "description": f"{summary.name}: {description}" if description else summary.name,
        "live_version": live.version if live else None,
        "versions": summary.versions,
        "own": summary.own,
    }


def _save(principal: Principal, name: str, data: dict) -> FlowDefinition:
    return flow_definition_save(
        name=name,
        steps=data["steps"],
        description=data["description"],
        activate=data["activate"],
        created_by=principal.user,
        api_key=principal.api_key,
    )


def _version_data(definition: FlowDefinition) -> dict:
    versions = selectors.flow_versions(name=definition.name)
    shown = next((v for v in versions if v.pk == definition.pk), definition)
    return s.FlowVersionSerializer(shown).data


class FlowCollectionView(TenantScopedView):
    """`/flows`: the flows this tenant can start, and new flows. (A plain view: the list is one page in
    the shape `/flows` always had, which a viewset's list would document as a bare array.)"""

    pagination_class = None
    required_scopes = {"POST": Scope.ADMIN}

    @extend_schema(
        operation_id="flows_list",
        parameters=[s.FlowListFilter],
        responses=inline_serializer(
            "FlowList",
            {
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": s.FlowSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        """One page, in the shape of the paginated lists: a handful of flows."""
        query = query_of(s.FlowListFilter, request)
        flows = [_flow_row(f) for f in selectors.flow_overview() if query["all"] or f.live is not None]
        return Response({"next": None, "previous": None, "results": flows})

    @extend_schema(request=s.FlowCreateInput, responses={201: s.FlowVersionSerializer})
    def post(self, request):
        """A new flow (version 1, or numbered after Maestro's flow of that name)."""
        data = body_of(s.FlowCreateInput, request)
        if selectors.flow_exists(name=data["name"]):
            raise ApiError(
                409,
                "conflict",
                f"The flow {data['name']} exists: post a new version to "
                f"/api/v1/flows/{data['name']}/versions.",
            )
        definition = _save(self.principal, data["name"], data)
        return Response(_version_data(definition), status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(parameters=[NAME_PARAMETER]),
    versions=extend_schema(parameters=[NAME_PARAMETER]),
    version=extend_schema(parameters=[NAME_PARAMETER, VERSION_PARAMETER]),
    activate=extend_schema(parameters=[NAME_PARAMETER, VERSION_PARAMETER]),
    diff=extend_schema(parameters=[NAME_PARAMETER]),
    dry_run=extend_schema(parameters=[NAME_PARAMETER]),
)
class FlowViewSet(TenantScopedView, viewsets.GenericViewSet):
    """The flows this tenant can start and edit: its own versions, and Maestro's shared ones."""

    lookup_field = "name"
    lookup_value_regex = NAME
    serializer_class = s.FlowVersionSerializer
    pagination_class = None  # only the versions list pages
    required_scopes = {
        "version_create": Scope.ADMIN,
        "activate": Scope.ADMIN,
        "dry_run": Scope.ADMIN,
    }

    def get_queryset(self):
        return FlowDefinition.objects.all()

    @extend_schema(responses=s.FlowDetailSerializer)
    def retrieve(self, request, name=None):
        """The live version (null when none is) and every version, newest first."""
        versions = selectors.flow_versions(name=name or "")
        if not versions:
            raise ApiError(404, "not_found", "Not found.")
        live = next((v for v in versions if v.live), None)  # type: ignore[attr-defined]  # set by the selector
        return Response(s.FlowDetailSerializer({"name": name, "live": live, "versions": versions}).data)

    @extend_schema(responses=s.FlowVersionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=Cursor)
    def versions(self, request, name=None):
        """Every version of the flow the tenant sees, newest first."""
        selectors.newest_flow_version(name=name or "")  # 404 for a flow the tenant does not see
        page = self.paginate_queryset(selectors.flow_version_rows(name=name or ""))
        selectors.mark_live(page or [], name=name or "")
        return self.get_paginated_response(s.FlowVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[NAME_PARAMETER], request=s.FlowVersionInput, responses={201: s.FlowVersionSerializer}
    )
    @versions.mapping.post
    def version_create(self, request, name=None):
        """Save a new version; earlier versions never change. Editing Maestro's flow saves the tenant's
        own copy, which wins over Maestro's once it is live."""
        selectors.newest_flow_version(name=name or "")
        definition = _save(self.principal, name or "", body_of(s.FlowVersionInput, request))
        return Response(_version_data(definition), status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.FlowVersionSerializer)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<version>\d+)")
    def version(self, request, name=None, version=None):
        definition = selectors.access_flow_version(name=name or "", version=int(version or 0))
        return Response(_version_data(definition))

    @extend_schema(request=None, responses=s.FlowVersionSerializer)
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<version>\d+)/activate")
    def activate(self, request, name=None, version=None):
        """Make this version live: new runs start it (runs already started keep theirs). Activating
        Maestro's live version retires the tenant's own; an older one of Maestro's is copied first."""
        definition = selectors.access_flow_version(name=name or "", version=int(version or 0))
        live = flow_definition_activate(
            definition=definition, actor=self.principal.user, api_key=self.principal.api_key
        )
        return Response(_version_data(live))

    @extend_schema(parameters=[s.FlowDiffQuery], responses=s.FlowDiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, name=None):
        """A unified diff from one version to another (description and each step as JSON)."""
        query = query_of(s.FlowDiffQuery, request)
        old = selectors.access_flow_version(name=name or "", version=query["from_version"])
        new = selectors.access_flow_version(name=name or "", version=query["to_version"])
        lines = [{"kind": line.kind, "text": line.text} for line in selectors.flow_version_diff(old, new)]
        body = {"name": name, "from_version": old.version, "to_version": new.version, "lines": lines}
        return Response(s.FlowDiffSerializer(body).data)

    @extend_schema(
        request=s.DryRunInput,
        responses={200: OpenApiResponse(s.DryRunSerializer, "What each step would do; nothing was done.")},
    )
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request, name=None):
        """Run a version (default: the newest) for an author and a brief without calling any model,
        spending, queueing a draft or sending a request: rendered prompts, the model each call would
        get, and HTTP requests with their secrets masked."""
        data = body_of(s.DryRunInput, request)
        if "version" in data:
            definition = selectors.access_flow_version(name=name or "", version=data["version"])
        else:
            definition = selectors.newest_flow_version(name=name or "")
        author = access_author(author_id=data["author"])
        result = flow_dry_run(definition=definition, author=author, brief=data["brief"])
        return Response(s.DryRunSerializer(result.as_dict()).data)


class FlowSecretViewSet(TenantScopedView, viewsets.GenericViewSet):
    """Secrets HTTP steps send (`"headers": {"Authorization": "Bearer {secret}"}`) or sign with
    (`"sign": true`), named by the steps. Only a mask is ever shown; posting a name again replaces it."""

    lookup_field = "name"
    lookup_value_regex = NAME
    serializer_class = s.FlowSecretSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    required_scopes = {"list": Scope.ADMIN, "create": Scope.ADMIN, "destroy": Scope.ADMIN}

    def get_queryset(self):
        return selectors.flow_secrets()

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.FlowSecretSerializer(page, many=True).data)

    @extend_schema(
        request=s.FlowSecretInput,
        responses={201: s.FlowSecretCreatedSerializer, 200: s.FlowSecretCreatedSerializer},
    )
    def create(self, request):
        """Set a secret (201), or replace one of that name (200: the old value stops working at once)."""
        data = body_of(s.FlowSecretInput, request)
        existed = selectors.flow_secrets().filter(name=data["name"]).exists()
        secret, generated = flow_secret_set(
            name=data["name"], value=data["value"], actor=self.principal.user, api_key=self.principal.api_key
        )
        body = {**s.FlowSecretSerializer(secret).data, "value": generated or None}
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(parameters=[NAME_PARAMETER], responses={204: None})
    def destroy(self, request, name=None):
        secret = selectors.access_flow_secret(name=name or "")
        flow_secret_delete(secret=secret, actor=self.principal.user, api_key=self.principal.api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


router = SimpleRouter(trailing_slash=False)
router.register("flows", FlowViewSet, basename="flow")
router.register("flow-secrets", FlowSecretViewSet, basename="flow-secret")
urlpatterns = [path("flows", FlowCollectionView.as_view(), name="flows"), *router.urls]
