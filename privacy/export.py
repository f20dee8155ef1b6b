"""A tenant's or an author's data as a ZIP of JSON files: one file per table, and a manifest.

Each file is a JSON array of the table's rows (`<app>.<model>.json`), written row by row from a
database cursor, so memory stays flat however large the tenant. Left out, and listed in the manifest:
secrets (API key digests, encrypted provider keys, webhook secrets, OAuth tokens) and embedding
vectors (derived numbers, rebuilt from the text on import).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from typing import IO, Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from authors.models import Author
from privacy.footprint import author_footprint
from tenants.context import require_tenant
from tenants.models import Membership
from tenants.scoping import TenantOrSharedModel, TenantOwnedModel

SECRET_FIELDS = frozenset({"secret_hash", "password"})
CHUNK = 1000


def _omitted(field: models.Field) -> bool:
    if isinstance(field, VectorField | models.GeneratedField):
        return True
    return field.name in SECRET_FIELDS or field.name.endswith("_encrypted")


def exported_fields(model: type[models.Model]) -> tuple[list[str], list[str]]:
    """(columns written, columns left out) of a model; foreign keys as their ids."""
    kept: list[str] = []
    left_out: list[str] = []
    for field in model._meta.concrete_fields:
        (left_out if _omitted(field) else kept).append(field.attname)
    return kept, left_out


def _write_rows(archive: zipfile.ZipFile, name: str, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with archive.open(name, "w") as entry:
        entry.write(b"[")
        for row in rows:
            entry.write(b"\n" if count == 0 else b",\n")
            entry.write(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False).encode())
            count += 1
        entry.write(b"\n]\n")
    return count


def _tenant_tables() -> list[tuple[type[models.Model], models.QuerySet]]:
    tables: list[tuple[type[models.Model], models.QuerySet]] = []
    for model in apps.get_models():
        if issubclass(model, TenantOwnedModel):
            tables.append((model, model._default_manager.all()))
        elif issubclass(model, TenantOrSharedModel):  # the tenant's own rows, not Maestro's shared ones
            tables.append((model, model._default_manager.filter(tenant__isnull=False)))
    return tables


def _author_tables(author: Author) -> list[tuple[type[models.Model], models.QuerySet]]:
    return [(part.model, part.rows(author)) for part in author_footprint()]


def export_write(*, fileobj: IO[bytes], author: Author | None = None) -> dict[str, Any]:
    """Write the ZIP of the tenant in scope (or of one of its authors) to `fileobj`; returns the
    manifest (also written as manifest.json)."""
    tenant = require_tenant()
    files: dict[str, int] = {}
    left_out: dict[str, list[str]] = {}
    tables = _author_tables(author) if author is not None else _tenant_tables()
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if author is None:
            files["tenants.members.json"] = _write_rows(archive, "tenants.members.json", _members())
        for model, queryset in tables:
            kept, omitted = exported_fields(model)
            name = f"{model._meta.label_lower}.json"
            rows = queryset.order_by("pk").values(*kept).iterator(chunk_size=CHUNK)
            files[name] = _write_rows(archive, name, rows)
            if omitted:
                left_out[name] = omitted
        manifest = {
            "tenant": {"id": tenant.pk, "name": tenant.name, "slug": tenant.slug},
            "scope": "author" if author is not None else "tenant",
            "author_id": author.pk if author is not None else None,
            "exported_at": timezone.now().isoformat(),
            "files": files,
            "left_out": left_out,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _members() -> Iterable[dict[str, Any]]:
    return (
        Membership.objects.order_by("pk")
        .values("user_id", "user__email", "user__full_name", "role", "created_at")
        .iterator(chunk_size=CHUNK)
    )
