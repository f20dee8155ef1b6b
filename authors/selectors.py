"""Reads of authors and their style profiles, scoped to the current tenant."""

from __future__ import annotations

from django.db.models import Max, QuerySet
from django.shortcuts import get_object_or_404

from authors.models import Author, StyleProfile


def authors(*, active_only: bool = True) -> QuerySet[Author]:
    queryset = Author.objects.all()
    return queryset.filter(is_active=True) if active_only else queryset


def access_author(*, author_id: int) -> Author:
    """The author of the current tenant, or 404 (for missing and foreign alike)."""
    return get_object_or_404(Author, pk=author_id)


def current_style_profile(*, author: Author) -> StyleProfile | None:
    return StyleProfile.objects.filter(author=author).order_by("-version").first()


def authors_with_versions(*, active_only: bool = False) -> QuerySet[Author]:
    """Authors with `current_version` (their highest style profile version, None without one)."""
    return authors(active_only=active_only).annotate(current_version=Max("profiles__version"))


def style_profile_history(*, author: Author) -> QuerySet[StyleProfile]:
    """Every version of the author's style card, newest first."""
    return StyleProfile.objects.filter(author=author).select_related("created_by").order_by("-version")


def access_style_profile(*, author: Author, version: int) -> StyleProfile:
    """One version of the author's card, or 404."""
    return get_object_or_404(
        StyleProfile.objects.select_related("created_by"), author=author, version=version
    )
