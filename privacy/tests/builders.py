"""Rows of one author in every table that can hold them, made with each app's factories.

`BUILDERS` has one builder per model of the author's footprint (privacy/footprint.py); a builder makes
at least one row of its model for the author and returns every row it made. test_erasure.py fails when
a model that references authors has no builder here, so a new table cannot escape erasure unseen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.db import models
from django.utils import timezone

from authors.models import Author
from authors.tests.factories import make_style_profile
from console.tests.factories import make_budget, make_delivery, make_trace
from gateway.models import BudgetAlert, RouterLabel, SemanticCacheEntry
from memories.models import MemoryConflict
from memories.tests.factories import make_memory, unit_vector
from orchestrator.flows.series import series_save
from orchestrator.models import StepRun
from orchestrator.tests.factories import make_draft, make_run, make_series
from publishing.models import Delivery, PostMetrics, SeriesSlot
from publishing.tests.factories import make_approved_draft, make_connection, make_post, make_schedule
from reviews.models import DraftTransition, LearningProposal
from tenants.context import tenant_scope
from tenants.models import Tenant

Builder = Callable[[Tenant, Author], list[models.Model]]


def _in(tenant: Tenant, make: Callable[[], models.Model]) -> models.Model:
    with tenant_scope(tenant):
        return make()


def _draft_and_children(tenant: Tenant, author: Author) -> list[models.Model]:
    draft = make_draft(tenant=tenant, author=author)
    transition = _in(
        tenant, lambda: DraftTransition.objects.create(draft=draft, from_state="", to_state="ready")
    )
    proposal = _in(
        tenant,
        lambda: LearningProposal.objects.create(draft=draft, author=author, kind="learning", text="Short."),
    )
    return [draft, draft.run, transition, proposal]


def _run_and_steps(tenant: Tenant, author: Author) -> list[models.Model]:
    run = make_run(tenant=tenant, author=author, status="succeeded")
    step = _in(
        tenant,
        lambda: StepRun.objects.create(
            run=run, key="write", step_type="llm", output={"text": f"{author.name} wrote"}
        ),
    )
    trace = make_trace(tenant=tenant, flow_run_id=run.pk, prompt=[{"role": "user", "content": "brief"}])
    return [run, step, trace]


def _series(tenant: Tenant, author: Author) -> list[models.Model]:
    series = make_series(tenant=tenant, name=f"Series of {author.name}", author=author)
    with tenant_scope(tenant):
        series_save(series=series)
    return [series, series.periodic_task]


def _traces(tenant: Tenant, author: Author) -> list[models.Model]:
    return [make_trace(tenant=tenant, author_id=author.pk, response=f"A post for {author.name}")]


def _cache_entry(tenant: Tenant, author: Author) -> list[models.Model]:
    entry = _in(
        tenant,
        lambda: SemanticCacheEntry.objects.create(
            purpose="post", model_class="standard", author_id=author.pk, scope_hash="s", request_text="brief",
            request_hash="h", embedding=unit_vector(author.pk), embedding_model="test/fixed",
            response_text="cached", expires_at=timezone.now() + timedelta(days=1),
        ),
    )  # fmt: skip
    return [entry]


def _budget_and_alert(tenant: Tenant, author: Author) -> list[models.Model]:
    budget = make_budget(tenant=tenant, scope="author", author=author)
    alert = _in(
        tenant,
        lambda: BudgetAlert.objects.create(
            budget=budget, threshold=0.8, period_start=timezone.now(), spent=Decimal(8)
        ),
    )
    return [budget, alert]


def _router_label(tenant: Tenant, author: Author) -> list[models.Model]:
    draft = make_draft(tenant=tenant, author=author)
    trace = make_trace(tenant=tenant, author_id=author.pk)
    label = _in(
        tenant,
        lambda: RouterLabel.objects.create(
            trace_id=trace.pk, draft_id=draft.pk, purpose="post", model_alias="standard-a", tier="standard",
            arm="weak", text=draft.body, embedding=unit_vector(7), embedding_model="test/fixed", quality=1.0,
            approved=True, decided_at=timezone.now(),
        ),
    )  # fmt: skip
    return [draft, draft.run, trace, label]


def _webhook_delivery(tenant: Tenant, author: Author) -> list[models.Model]:
    delivery = make_delivery(tenant=tenant)
    with tenant_scope(tenant):
        delivery.payload = {"event": "draft.approved", "data": {"draft_id": 1, "author_id": author.pk}}
        delivery.save(update_fields=["payload"])
    return [delivery]


def _publishing(tenant: Tenant, author: Author) -> list[models.Model]:
    schedule = make_schedule(tenant=tenant, author=author)
    connection = make_connection(tenant=tenant, author=author, access_token=f"token-{author.pk}")
    draft = make_approved_draft(tenant=tenant, author=author)
    post = make_post(tenant=tenant, draft=draft)
    delivery = _in(tenant, lambda: Delivery.objects.create(post=post, channel=post.channel))
    metrics = _in(
        tenant,
        lambda: PostMetrics.objects.create(
            post=post, impressions=10, source="api", collected_at=timezone.now()
        ),
    )
    return [schedule, connection, draft, draft.run, post, delivery, metrics]


def _memory_conflict(tenant: Tenant, author: Author) -> list[models.Model]:
    older = make_memory(tenant=tenant, author=author, text=f"{author.name} lives in Lisbon.")
    newer = make_memory(tenant=tenant, author=author, text=f"{author.name} lives in Porto.")
    conflict = _in(
        tenant, lambda: MemoryConflict.objects.create(memory=newer, contradicts=older, probability=0.9)
    )
    return [older, newer, conflict]


def _series_slot(tenant: Tenant, author: Author) -> list[models.Model]:
    series = make_series(tenant=tenant, name=f"Slots of {author.name}", author=author)
    run = make_run(tenant=tenant, author=author, series=series, status="succeeded")
    slot = _in(
        tenant,
        lambda: SeriesSlot.objects.create(
            series=series, author=author, at=timezone.now() + timedelta(days=2), run=run
        ),
    )
    return [series, run, slot]


def _profile(tenant: Tenant, author: Author) -> list[models.Model]:
    return [make_style_profile(tenant=tenant, author=author)]


def _memory(tenant: Tenant, author: Author) -> list[models.Model]:
    return [make_memory(tenant=tenant, author=author, text=f"{author.name} keeps posts short.")]


BUILDERS: dict[str, Builder] = {
    "authors.styleprofile": _profile,
    "memories.memory": _memory,
    "memories.memoryconflict": _memory_conflict,
    "reviews.draft": _draft_and_children,
    "reviews.drafttransition": _draft_and_children,
    "reviews.learningproposal": _draft_and_children,
    "orchestrator.flowrun": _run_and_steps,
    "orchestrator.steprun": _run_and_steps,
    "orchestrator.series": _series,
    "gateway.trace": _traces,
    "gateway.semanticcacheentry": _cache_entry,
    "gateway.budget": _budget_and_alert,
    "gateway.budgetalert": _budget_and_alert,
    "gateway.routerlabel": _router_label,
    "webhooks.webhookdelivery": _webhook_delivery,
    "publishing.postingschedule": _publishing,
    "publishing.scheduledpost": _publishing,
    "publishing.linkedinconnection": _publishing,
    "publishing.delivery": _publishing,
    "publishing.postmetrics": _publishing,
    "publishing.seriesslot": _series_slot,
}


def build_everything(*, tenant: Tenant, author: Author) -> list[models.Model]:
    """Every builder once (a builder shared by several models runs once)."""
    rows: list[models.Model] = []
    for builder in dict.fromkeys(BUILDERS.values()):
        rows.extend(row for row in builder(tenant, author) if row is not None)
    return rows
