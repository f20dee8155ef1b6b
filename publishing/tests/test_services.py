"""Schedules, queueing into free slots, moving, cancelling and marking delivered (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from orchestrator.tests.factories import make_author, make_draft
from publishing import services
from publishing import slots as slot_math
from publishing.models import Channel, Delivery, DeliveryStatus, PostStatus, ScheduledPost
from publishing.tests.factories import make_approved_draft, make_post, make_schedule
from reviews import services as reviews
from reviews.models import Draft, DraftState
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def test_slots_fall_on_the_authors_wall_clock_across_a_daylight_saving_change():
    new_york = ZoneInfo("America/New_York")
    tuesday_nine = slot_math.clean_slots([{"weekday": 1, "time": "09:00"}])
    # 2026-03-03 and 2026-03-10 are Tuesdays; clocks moved forward on Sunday 2026-03-08.
    after = datetime(2026, 3, 1, tzinfo=UTC)
    instants = list(
        slot_math.slot_instants(tuesday_nine, new_york, after=after, until=after + timedelta(days=14))
    )
    assert instants == [datetime(2026, 3, 3, 14, 0, tzinfo=UTC), datetime(2026, 3, 10, 13, 0, tzinfo=UTC)]


def test_slot_text_is_parsed_and_a_bad_part_is_named():
    assert slot_math.parse_slots_text("Mon 09:00, wednesday 12:30\nFri 7:05") == [
        {"weekday": 0, "time": "09:00"},
        {"weekday": 2, "time": "12:30"},
        {"weekday": 4, "time": "07:05"},
    ]
    with pytest.raises(ValidationError, match="Noon"):
        slot_math.parse_slots_text("Mon 09:00, Noon")


def test_a_schedule_refuses_an_unknown_time_zone_and_a_bad_slot(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    with pytest.raises(ValidationError, match="not a time zone"):
        services.schedule_save(author=author, time_zone="Mars/Olympus", slots=[])
    with pytest.raises(ValidationError, match="HH:MM"):
        services.schedule_save(author=author, time_zone="UTC", slots=[{"weekday": 1, "time": "25:00"}])
    schedule = services.schedule_save(
        author=author,
        time_zone="Europe/Lisbon",
        slots=[{"weekday": 4, "time": "08:30"}, {"weekday": 1, "time": "09:00"}],
    )
    assert schedule.slots == [{"weekday": 1, "time": "09:00"}, {"weekday": 4, "time": "08:30"}]


def test_approved_drafts_fill_the_next_free_slots_in_order(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author, time_zone="Europe/Lisbon")
    first = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None)
    second = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None)
    lisbon = ZoneInfo("Europe/Lisbon")
    assert first.at > timezone.now()
    assert first.at.astimezone(lisbon).strftime("%H:%M") == "09:00"
    assert second.at - first.at == timedelta(days=1)
    assert first.status == second.status == PostStatus.SCHEDULED
    assert first.channel == Channel.EXTERNAL


def test_only_an_approved_draft_is_scheduled_and_only_for_the_future(tenant_a, in_tenant_a):
    ready = make_draft(tenant=tenant_a, state=DraftState.READY)
    with pytest.raises(ValidationError, match="Only an approved draft"):
        services.post_schedule(draft=ready, user=None, at=timezone.now() + timedelta(hours=1))
    approved = make_approved_draft(tenant=tenant_a)
    with pytest.raises(ValidationError, match="in the future"):
        services.post_schedule(draft=approved, user=None, at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="no posting schedule"):
        services.post_schedule(draft=approved, user=None)
    assert not ScheduledPost.objects.exists()


def test_linkedin_needs_the_authors_connection(tenant_a, in_tenant_a):
    draft = make_approved_draft(tenant=tenant_a)
    with pytest.raises(ValidationError, match=r"Connect .* LinkedIn first"):
        services.post_schedule(
            draft=draft, user=None, at=timezone.now() + timedelta(hours=1), channel="linkedin"
        )


def test_a_draft_is_scheduled_once_and_two_posts_of_an_author_never_share_a_time(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    at = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    post = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None, at=at)
    with pytest.raises(ValidationError, match="already scheduled"):
        services.post_schedule(draft=post.draft, user=None, at=at + timedelta(hours=1))
    with pytest.raises(ValidationError, match="already has a post at"):
        services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None, at=at)
    other = services.post_schedule(
        draft=make_approved_draft(tenant=tenant_a, author=author), user=None, at=at + timedelta(hours=1)
    )
    with pytest.raises(ValidationError, match="already has a post at"):
        services.post_move(post=other, at=at)
    moved = services.post_move(post=other, at=at + timedelta(hours=3))
    assert moved.at == moved.next_attempt_at == at + timedelta(hours=3)


def test_moving_to_the_next_free_slot_skips_the_slots_taken(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    first = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None)
    later = services.post_schedule(
        draft=make_approved_draft(tenant=tenant_a, author=author), user=None, at=first.at + timedelta(days=5)
    )
    moved = services.post_move(post=later)  # no time: the next free slot
    assert moved.at == first.at + timedelta(days=1)


def test_a_cancelled_post_frees_its_slot_and_the_draft_can_be_scheduled_again(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    post = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None)
    services.post_cancel(post=post)
    with pytest.raises(ValidationError, match="cannot be moved"):
        services.post_move(post=post)
    again = services.post_schedule(draft=post.draft, user=None)
    assert again.pk == post.pk
    assert again.status == PostStatus.SCHEDULED
    assert again.at == post.at  # its slot was free again


def test_a_crm_marks_a_post_delivered_and_the_webhook_carries_the_text(
    tenant_a, in_tenant_a, django_capture_on_commit_callbacks
):
    webhook_endpoint_create(url="https://crm.example.com/hook", events=["post.delivered"])
    post = make_post(
        tenant=tenant_a, draft=make_approved_draft(tenant=tenant_a, body="Our churn story, in full.")
    )
    member = make_member(tenant=tenant_a, role=Role.WRITER)
    with django_capture_on_commit_callbacks(execute=False):
        delivered = services.post_mark_delivered(
            post=post, external_id="crm-123", url="https://crm.example.com/p/123", user=member.user
        )
    assert delivered.status == PostStatus.DELIVERED
    assert delivered.external_id == "crm-123"
    assert Draft.objects.get(pk=post.draft_id).state == DraftState.DELIVERED
    [delivery] = Delivery.objects.filter(post=post)
    assert (delivery.status, delivery.external_id, delivery.marked_by) == (
        DeliveryStatus.SUCCEEDED,
        "crm-123",
        member.user,
    )
    [webhook] = WebhookDelivery.objects.filter(event="post.delivered")
    assert webhook.payload["data"]["text"] == "Our churn story, in full."
    [event] = AuditEvent.objects.filter(action="publishing.post_marked_delivered")
    assert (event.actor_user_id, event.after["external_id"]) == (member.user.pk, "crm-123")
    assert webhook.payload["data"]["external_id"] == "crm-123"
    # A retry of the CRM's call with the same id changes nothing; another id is refused.
    assert services.post_mark_delivered(post=post, external_id="crm-123", user=None).pk == post.pk
    with pytest.raises(ValidationError, match="already delivered"):
        services.post_mark_delivered(post=post, external_id="crm-999", user=None)
    with pytest.raises(ValidationError, match="Give the post's id"):
        services.post_mark_delivered(post=make_post(tenant=tenant_a), external_id="  ", user=None)


def test_the_draft_approved_webhook_carries_the_text(
    tenant_a, in_tenant_a, django_capture_on_commit_callbacks
):
    webhook_endpoint_create(url="https://crm.example.com/hook", events=["draft.approved"])
    draft = make_draft(tenant=tenant_a, body="Approved words.")
    writer = make_member(tenant=tenant_a, role=Role.WRITER).user
    with django_capture_on_commit_callbacks(execute=False):
        reviews.draft_approve(draft_id=draft.pk, user=writer)
    [webhook] = WebhookDelivery.objects.filter(event="draft.approved")
    data = webhook.payload["data"]
    assert data["text"] == "Approved words."
    assert data["author_name"] == draft.author.name
    assert data["draft_id"] == draft.pk


def test_another_tenants_posts_are_invisible(tenant_a, tenant_b):
    post_b = make_post(tenant=tenant_b)
    with tenant_scope(tenant_a):
        assert not ScheduledPost.objects.filter(pk=post_b.pk).exists()
        with pytest.raises(ScheduledPost.DoesNotExist):
            services.post_cancel(post=post_b)
