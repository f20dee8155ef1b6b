"""Embed memories again after the embedding model changed (MAESTRO_EMBEDDINGS).

Only memories whose `embedding_model` differs from the configured model are touched, in batches
committed one by one: running it twice does nothing the second time, and an interrupted run
resumes where it stopped. Until a memory is re-embedded, retrieval still finds it by keywords.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from gateway.embeddings import get_embedder
from memories.models import Memory
from memories.services import memory_reembed
from tenants.context import tenant_scope
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Re-embed memories whose embedding model differs from the configured one (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", type=int, default=256, help="Memories embedded per batch (default 256)."
        )
        parser.add_argument("--tenant", help="Only this tenant's memories (slug).")

    def handle(self, *args, batch: int, tenant: str | None, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        model_id = get_embedder().model_id
        self.stdout.write(f"Embedding model: {model_id}")
        total = 0
        for each in tenants:
            with tenant_scope(each):
                total += self._reembed_tenant(each, model_id=model_id, batch=batch)
        self.stdout.write(self.style.SUCCESS(f"Done: {total} memories re-embedded."))

    def _reembed_tenant(self, tenant: Tenant, *, model_id: str, batch: int) -> int:
        stale = Memory.objects.exclude(embedding_model=model_id).order_by("pk")
        remaining = stale.count()
        if not remaining:
            return 0
        done, last_pk = 0, 0
        while True:
            memories = list(stale.filter(pk__gt=last_pk).only("pk", "text", "tenant_id")[:batch])
            if not memories:
                return done
            done += memory_reembed(memories=memories)
            last_pk = memories[-1].pk
            self.stdout.write(f"  {tenant.slug}: {done}/{remaining}")
