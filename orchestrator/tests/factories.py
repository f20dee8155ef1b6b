"""Test data for flows and reviews: rows written directly (no worker, no model)."""

from __future__ import annotations

from django.utils import timezone

from authors.models import Author
from orchestrator.flows.definitions import DEFAULT_POST_FLOW
from orchestrator.models import FlowDefinition, FlowRun, RunStatus, Series
from reviews.models import Draft, DraftState, LearningProposal
from tenants.context import tenant_scope
from tenants.models import Tenant


def make_author(*, tenant: Tenant, name: str = "Ana Souza") -> Author:
    with tenant_scope(tenant):
        return Author.objects.get_or_create(name=name, defaults={"headline": "CEO at Acme"})[0]


def make_definition(*, tenant: Tenant, name: str = "post") -> FlowDefinition:
    with tenant_scope(tenant):
        return FlowDefinition.objects.get_or_create(
            tenant=tenant,
            name=name,
            version=1,
            defaults={"steps": DEFAULT_POST_FLOW, "description": "Test flow"},
        )[0]


def make_run(
    *, tenant: Tenant, author: Author | None = None, status: str = RunStatus.QUEUED, **fields
) -> FlowRun:
    author = author or make_author(tenant=tenant)
    definition = make_definition(tenant=tenant)
    with tenant_scope(tenant):
        return FlowRun.objects.create(
            definition=definition,
            steps=definition.steps,
            author=author,
            brief=fields.pop("brief", "Why we call every new customer in week one"),
            status=status,
            **fields,
        )


def make_draft(
    *,
    tenant: Tenant,
    state: str = DraftState.READY,
    body: str = "Three onboarding calls cut churn by 20 percent in our first quarter.",
    author: Author | None = None,
    run: FlowRun | None = None,
    **fields,
) -> Draft:
    """A draft as a finished flow leaves it: what the model wrote is both body and original."""
    author = author or make_author(tenant=tenant)
    run = run or make_run(tenant=tenant, author=author, status=RunStatus.SUCCEEDED)
    fields.setdefault("original_body", body)
    with tenant_scope(tenant):
        draft = Draft.objects.create(
            run=run, author=author, flow_name="post", brief=run.brief, state=state, body=body, **fields
        )
        if "created_at" in fields:  # auto_now_add ignores the value given at creation
            Draft.objects.filter(pk=draft.pk).update(created_at=fields["created_at"])
            draft.refresh_from_db()
    return draft


def make_proposal(*, tenant: Tenant, text: str = 'The author says: "cut churn"', kind: str = "key_phrase"):
    draft = make_draft(tenant=tenant, state=DraftState.APPROVED, decided_at=timezone.now())
    with tenant_scope(tenant):
        return LearningProposal.objects.create(draft=draft, author=draft.author, kind=kind, text=text)


def make_series(*, tenant: Tenant, name: str = "Monday lessons", **fields) -> Series:
    author = fields.pop("author", None) or make_author(tenant=tenant)
    make_definition(tenant=tenant)
    with tenant_scope(tenant):
        return Series.objects.create(name=name, author=author, brief="A lesson from the week", **fields)
