"""Test data for authors and style cards, written through the services so versions number themselves."""

from __future__ import annotations

import itertools

from authors.models import Author, StyleProfile
from authors.services import author_create, style_profile_save
from tenants.context import tenant_scope
from tenants.models import Tenant

_names = itertools.count(1)


def make_author(*, tenant: Tenant, name: str | None = None, **fields) -> Author:
    with tenant_scope(tenant):
        return author_create(name=name or f"Author {next(_names)}", **fields)


def make_style_profile(*, tenant: Tenant, author: Author | None = None, **card) -> StyleProfile:
    """The next version of `author`'s card (a fresh author's v1 when none is given)."""
    author = author or make_author(tenant=tenant)
    card.setdefault("tone", "Plain, direct, warm.")
    with tenant_scope(tenant):
        return style_profile_save(author=author, created_by=None, **card)
