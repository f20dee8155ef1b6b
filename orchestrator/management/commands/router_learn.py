"""Collect review labels and retrain the learned router now (Celery beat does it every hour).

    python manage.py router_learn [--tenant SLUG] [--force]

For each tenant (or the one given): label the calls that wrote newly decided drafts, then, when enough
new labels exist (or with --force), train a candidate, evaluate it in shadow against the router in use
on the most recent labels, and promote it only if it is better. Without --tenant, the opt-in prior is
retrained last from the labels of tenants that opted in.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from orchestrator.router_labels import router_learn, router_learn_pooled
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Collect review labels and retrain (shadow-evaluate, maybe promote) the learned router."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--force", action="store_true", help="Retrain even with few new labels.")

    def handle(self, *args, tenant: str | None, force: bool, **options):
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        for each in tenants:
            outcome = router_learn(tenant=each, force=force)
            self.stdout.write(f"{each.slug}: {outcome.status} ({outcome.reason}) {outcome.version}")
        if not tenant:
            outcome = router_learn_pooled(force=force)
            self.stdout.write(f"opt-in prior: {outcome.status} ({outcome.reason}) {outcome.version}")
