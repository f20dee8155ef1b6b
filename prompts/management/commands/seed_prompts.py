"""Install Maestro's default prompts. Safe to run again: existing templates are left as they are."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from prompts.services import prompt_defaults_install
from tenants.context import cross_tenant_access


class Command(BaseCommand):
    help = "Install Maestro's global default prompt templates (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        with cross_tenant_access("seed_prompts: Maestro's defaults are shared by every tenant"):
            created = prompt_defaults_install()
        for template in created:
            self.stdout.write(f"  installed {template.key}")
        self.stdout.write(self.style.SUCCESS(f"Default prompts ready ({len(created)} new)."))
