"""Erase an author, or a whole tenant after its export (the console's erasure, for operators).

    python manage.py privacy_erase --tenant SLUG --author ID --yes
    python manage.py privacy_erase --tenant SLUG --whole-tenant --yes

Nothing happens without --yes. A whole tenant needs an export of the last 7 days (privacy_export).
Prints the report: rows removed per table (and, on stderr, what else the operator should know, such as a
LinkedIn token that LinkedIn could not revoke yet).
"""

from __future__ import annotations

import json

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError

from privacy.services import author_erase, tenant_erase
from tenants.context import tenant_scope
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Erase an author and everything derived from them, or a whole tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--author", type=int, help="The author's id.")
        which.add_argument("--whole-tenant", action="store_true", help="The tenant and everything it owns.")
        parser.add_argument("--yes", action="store_true", help="Confirm: erasure cannot be undone.")

    def handle(
        self, *args, tenant: str, author: int | None, whole_tenant: bool, yes: bool, **options
    ) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with the slug {tenant!r}.")
        if not yes:
            raise CommandError("Erasure cannot be undone: add --yes to go ahead.")
        if author is None and not whole_tenant:
            raise CommandError("Say which: --author ID or --whole-tenant.")
        try:
            if author is None:
                report = tenant_erase(tenant_id=found.pk, actor=None)
            else:
                with tenant_scope(found):
                    report = author_erase(author_id=author, actor=None)
        except ObjectDoesNotExist as exc:
            raise CommandError(f"Tenant {tenant} has no author {author}.") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(json.dumps({"erased": report.subject_label, "removed": report.removed}, indent=2))
        for note in report.notes:  # a LinkedIn token not revoked yet, for instance
            self.stderr.write(note)
