"""Create demo tenants and one user per role. Safe to run again: it changes nothing twice."""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.context import cross_tenant_access, tenant_scope
from tenants.models import Membership, Tenant, User
from tenants.roles import Role

DEMO_PASSWORD = "maestro-demo-2026"  # noqa: S105 - printed for the newcomer; demo data only
DEMO_TENANTS = [("Acme Agency", "acme"), ("Globex Corporation", "globex")]
DEMO_USERS = [
    ("admin@maestro.local", "Ada Admin", Role.ADMIN, True),
    ("editor@maestro.local", "Eddie Editor", Role.EDITOR, False),
    ("writer@maestro.local", "Wren Writer", Role.WRITER, False),
    ("viewer@maestro.local", "Vic Viewer", Role.VIEWER, False),
]


class Command(BaseCommand):
    help = "Create two demo tenants and a user for each role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo logins.")

    @transaction.atomic
    def handle(self, *args, **options):
        tenants = [
            Tenant.objects.get_or_create(slug=slug, defaults={"name": name})[0] for name, slug in DEMO_TENANTS
        ]
        for email, full_name, role, is_superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                email=email,
                defaults={"full_name": full_name, "is_staff": is_superuser, "is_superuser": is_superuser},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            for tenant in tenants:
                with tenant_scope(tenant):
                    Membership.objects.get_or_create(user=user, defaults={"role": role})
        self._run_extensions(tenants)
        if not options["quiet_logins"]:
            self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (all belong to both tenants):"))
            for email, _name, role, is_superuser in DEMO_USERS:
                extra = " + Django admin" if is_superuser else ""
                self.stdout.write(f"  {email:<24} {DEMO_PASSWORD}   ({role}{extra})")

    def _run_extensions(self, tenants: list[Tenant]) -> None:
        """Apps add demo data in their own `demo.py`: `seed_shared()` once, `seed(tenant=...)` per tenant."""
        for app_config in apps.get_app_configs():
            if find_spec(f"{app_config.name}.demo") is None:
                continue
            module = import_module(f"{app_config.name}.demo")
            if hasattr(module, "seed_shared"):
                with cross_tenant_access("seed_demo: data shared by every tenant"):
                    module.seed_shared()
            for tenant in tenants:
                with tenant_scope(tenant):
                    module.seed(tenant=tenant)
