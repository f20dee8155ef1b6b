"""Authors and their style profiles, memories (with search), prompt templates and versions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.exceptions import ApiError
from api.models import Scope
from api.views.base import TenantScopedView, body_of, query_of
from authors import selectors as author_selectors
from authors import services as author_services
from authors.models import StyleProfile
from memories import selectors as memory_selectors
from memories import services as memory_services
from prompts import selectors as prompt_selectors
from prompts import services as prompt_services
from prompts.models import PromptTemplate, PromptVersion


class ReadViewSet(
    TenantScopedView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    lookup_value_regex = r"\d+"


class AuthorViewSet(ReadViewSet):
    """The people and brands the tenant writes for, with their versioned style profiles."""

    serializer_class = s.AuthorSerializer
    required_scopes = {"create": Scope.ADMIN, "style_profile_create": Scope.ADMIN}

    def get_queryset(self):
        return author_selectors.authors(active_only=False)

    def create(self, request):
        author = author_services.author_create(**body_of(s.AuthorSerializer, request))
        return Response(s.AuthorSerializer(author).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.StyleProfileSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="style-profiles")
    def style_profiles(self, request, pk=None):
        """Every version of the author's style card, newest first."""
        author = author_selectors.access_author(author_id=pk)
        page = self.paginate_queryset(StyleProfile.objects.filter(author=author))
        return self.get_paginated_response(s.StyleProfileSerializer(page, many=True).data)

    @extend_schema(request=s.StyleProfileInput, responses={201: s.StyleProfileSerializer})
    @style_profiles.mapping.post
    def style_profile_create(self, request, pk=None):
        """Save a new version of the author's style card (earlier versions never change)."""
        author = author_selectors.access_author(author_id=pk)
        fields = body_of(s.StyleProfileInput, request)
        profile = author_services.style_profile_save(author=author, created_by=self.principal.user, **fields)
        return Response(s.StyleProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.MemoryFilter]))
class MemoryViewSet(ReadViewSet, mixins.DestroyModelMixin):
    """What Maestro remembers about each author. `search` ranks them for a query, as flows do."""

    serializer_class = s.MemorySerializer
    required_scopes = {
        "create": Scope.ADMIN,
        "partial_update": Scope.ADMIN,
        "destroy": Scope.ADMIN,
        "supersede": Scope.ADMIN,
        "keep_both": Scope.ADMIN,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.action != "list":
            return memory_selectors.memories_list(status="all")
        query = query_of(s.MemoryFilter, self.request)
        author = author_selectors.access_author(author_id=query["author"]) if "author" in query else None
        status_ = "all" if query["history"] else query["status"]
        return memory_selectors.memories_list(author=author, kind=query.get("kind"), status=status_)

    @extend_schema(request=s.MemoryInput, responses={201: s.MemorySerializer})
    def create(self, request):
        """Remember something; a near-duplicate merges, a contradiction is listed in `contradicts`."""
        data = body_of(s.MemoryInput, request)
        author = author_selectors.access_author(author_id=data.pop("author"))
        result = memory_services.memory_add(author=author, created_by=self.principal.user, **data)
        return Response(s.MemorySerializer(result.memory).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.MemoryUpdateInput, responses=s.MemorySerializer)
    def partial_update(self, request, pk=None):
        memory = memory_selectors.access_memory(memory_id=pk)
        memory = memory_services.memory_update(memory=memory, **body_of(s.MemoryUpdateInput, request))
        return Response(s.MemorySerializer(memory).data)

    def perform_destroy(self, instance) -> None:
        memory_services.memory_delete(memory=instance)

    @extend_schema(request=s.MemorySupersedeInput, responses=s.MemorySerializer)
    @action(detail=True, methods=["post"])
    def supersede(self, request, pk=None):
        """This memory is replaced by `successor`: it stops being valid now and links to it."""
        memory = memory_selectors.access_memory(memory_id=pk)
        successor = memory_selectors.access_memory(
            memory_id=body_of(s.MemorySupersedeInput, request)["successor"]
        )
        with _state_errors():
            memory = memory_services.memory_supersede(
                memory=memory, successor=successor, actor=self.principal.user
            )
        return Response(s.MemorySerializer(memory).data)

    @extend_schema(request=s.MemoryKeepBothInput, responses=s.MemoryConflictSerializer)
    @action(detail=True, methods=["post"], url_path="keep-both")
    def keep_both(self, request, pk=None):
        """The memory and `other`, flagged as contradicting, both hold: the contradiction is closed."""
        memory = memory_selectors.access_memory(memory_id=pk)
        other = memory_selectors.access_memory(memory_id=body_of(s.MemoryKeepBothInput, request)["other"])
        with _state_errors():
            conflict = memory_services.memory_keep_both(memory=memory, other=other, actor=self.principal.user)
        return Response(s.MemoryConflictSerializer(conflict).data)

    @extend_schema(parameters=[s.MemoryConflictFilter], responses=s.MemoryConflictSerializer(many=True))
    @action(detail=False, methods=["get"])
    def conflicts(self, request):
        """Contradictions between memories waiting for an editor, newest first."""
        query = query_of(s.MemoryConflictFilter, request)
        author = author_selectors.access_author(author_id=query["author"]) if "author" in query else None
        page = self.paginate_queryset(memory_selectors.pending_conflicts(author=author))
        return self.get_paginated_response(s.MemoryConflictSerializer(page, many=True).data)

    @extend_schema(parameters=[s.MemorySearchQuery], responses=s.ScoredMemorySerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def search(self, request):
        """The author's memories relevant to `q`, best first, with the parts of each score; below the
        relevance floor nothing is listed. Only valid memories unless `history`."""
        query = query_of(s.MemorySearchQuery, request)
        author = author_selectors.access_author(author_id=query["author"])
        kinds = [query["kind"]] if "kind" in query else None
        found = memory_selectors.retrieve_memories(
            author=author, query=query["q"], limit=query["limit"], kinds=kinds, history=query["history"]
        )
        return Response(s.ScoredMemorySerializer(found, many=True).data)


@contextmanager
def _state_errors() -> Iterator[None]:
    """A memory not in the state the action needs answers 409, in the one error shape."""
    try:
        yield
    except memory_services.MemoryStateError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc


# Filters apply to the list only (the schema must not offer them where they mean nothing).
@extend_schema_view(list=extend_schema(parameters=[s.PromptFilter]))
class PromptTemplateViewSet(ReadViewSet):
    """Prompt templates: the tenant's own and Maestro's shared defaults (read-only to tenants)."""

    serializer_class = s.PromptTemplateSerializer
    required_scopes = {"create": Scope.ADMIN, "version_create": Scope.ADMIN}

    def get_queryset(self):
        templates = PromptTemplate.objects.all()
        if self.action == "list":
            query = query_of(s.PromptFilter, self.request)
            if "purpose" in query:
                templates = templates.filter(purpose=query["purpose"])
        return templates

    @extend_schema(request=s.PromptTemplateInput, responses={201: s.PromptTemplateSerializer})
    def create(self, request):
        data = body_of(s.PromptTemplateInput, request)
        template = prompt_services.prompt_template_create(created_by=self.principal.user, **data)
        return Response(s.PromptTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.PromptVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """Every version of the template, newest first."""
        template = prompt_selectors.access_prompt_template(template_id=pk)
        page = self.paginate_queryset(prompt_selectors.template_versions(template=template))
        return self.get_paginated_response(s.PromptVersionSerializer(page, many=True).data)

    @extend_schema(request=s.PromptVersionInput, responses={201: s.PromptVersionSerializer})
    @versions.mapping.post
    def version_create(self, request, pk=None):
        """Save a new version, by default production (a Maestro default gets the tenant's override)."""
        template = prompt_selectors.access_prompt_template(template_id=pk)
        data = body_of(s.PromptVersionInput, request)
        version = prompt_services.prompt_edit(template=template, actor=self.principal.user, **data)
        return Response(s.PromptVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class PromptVersionViewSet(ReadViewSet):
    """Single prompt versions (immutable)."""

    serializer_class = s.PromptVersionSerializer

    def get_queryset(self):
        return PromptVersion.objects.select_related("template")
