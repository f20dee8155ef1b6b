"""Export a tenant's data, or one of its authors', to a ZIP file (the console's export, for operators).

    python manage.py privacy_export --tenant SLUG [--author ID] --output FILE.zip

An existing file is never overwritten. The export is audited as Maestro's own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from authors.models import Author
from privacy.services import export_build
from tenants.context import tenant_scope
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Write a tenant's (or an author's) data as a ZIP of JSON files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--author", type=int, help="Only this author's data (their id).")
        parser.add_argument("--output", required=True, type=Path, help="Where to write the ZIP.")

    def handle(self, *args, tenant: str, author: int | None, output: Path, **options) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with the slug {tenant!r}.")
        if output.exists():
            raise CommandError(f"{output} exists: choose another file, nothing is overwritten.")
        if not output.parent.is_dir():
            raise CommandError(f"{output.parent} is not a directory.")
        with tenant_scope(found):
            if author is not None and not Author.objects.filter(pk=author).exists():
                raise CommandError(f"Tenant {tenant} has no author {author}.")
            built = export_build(actor=None, author_id=author)
            with built.file, output.open("xb") as target:
                shutil.copyfileobj(built.file, target)
        rows = sum(built.manifest["files"].values())
        self.stdout.write(f"{output}: {len(built.manifest['files'])} tables, {rows} rows.")
