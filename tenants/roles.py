"""Roles and what each may do: the single place where role checks live."""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    WRITER = "writer", "Writer"
    VIEWER = "viewer", "Viewer"


class Permission(StrEnum):
    VIEW = "view"  # read the tenant's pages
    WRITE = "write"  # start flows, review and approve drafts
    EDIT_CONTENT = "edit_content"  # authors, prompts, memories
    MANAGE_TENANT = "manage_tenant"  # members, budgets, models, API keys


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.WRITER: frozenset({Permission.VIEW, Permission.WRITE}),
    Role.EDITOR: frozenset({Permission.VIEW, Permission.WRITE, Permission.EDIT_CONTENT}),
    Role.ADMIN: frozenset(Permission),
}


def role_allows(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
