"""Test data for publishing: approved drafts, schedules, LinkedIn connections and posts, written directly."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from authors.models import Author
from common.crypto import encrypt_secret
from orchestrator.tests.factories import make_author, make_draft
from publishing.models import (
    Channel,
    LinkedInConnection,
    PostingSchedule,
    PostStatus,
    ScheduledPost,
)
from reviews.models import Draft, DraftState
from tenants.context import tenant_scope
from tenants.models import Tenant

BODY = "Three onboarding calls cut churn by 20 percent in our first quarter."


def make_approved_draft(*, tenant: Tenant, author: Author | None = None, body: str = BODY, **fields) -> Draft:
    return make_draft(
        tenant=tenant,
        author=author,
        state=DraftState.APPROVED,
        body=body,
        decided_at=timezone.now(),
        **fields,
    )


def make_schedule(
    *,
    tenant: Tenant,
    author: Author | None = None,
    time_zone: str = "UTC",
    slots=None,
    channel=Channel.EXTERNAL,
) -> PostingSchedule:
    author = author or make_author(tenant=tenant)
    slots = slots if slots is not None else [{"weekday": day, "time": "09:00"} for day in range(7)]
    with tenant_scope(tenant):
        return PostingSchedule.objects.update_or_create(
            author=author, defaults={"time_zone": time_zone, "slots": slots, "channel": channel}
        )[0]


def make_connection(
    *, tenant: Tenant, author: Author, access_token: str, member_id: str = "fake-member-1", **fields
) -> LinkedInConnection:
    fields.setdefault("expires_at", timezone.now() + timedelta(days=60))
    refresh_token = fields.pop("refresh_token", "")
    with tenant_scope(tenant):
        return LinkedInConnection.objects.create(
            author=author,
            member_id=member_id,
            member_name="Ana Souza",
            access_token_encrypted=encrypt_secret(access_token),
            refresh_token_encrypted=encrypt_secret(refresh_token),
            **fields,
        )


def make_post(
    *,
    tenant: Tenant,
    draft: Draft | None = None,
    at: datetime | None = None,
    channel: str = Channel.EXTERNAL,
    status: str = PostStatus.SCHEDULED,
    **fields,
) -> ScheduledPost:
    draft = draft or make_approved_draft(tenant=tenant)
    at = at or timezone.now() + timedelta(hours=1)
    with tenant_scope(tenant):
        return ScheduledPost.objects.create(
            draft=draft,
            author=draft.author,
            at=at,
            next_attempt_at=at,
            channel=channel,
            status=status,
            **fields,
        )
