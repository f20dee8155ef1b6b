"""A series plans drafts for its author's slots ahead of time; approved, each goes into its slot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orchestrator.models import FlowRun
from orchestrator.tests.factories import make_author, make_draft, make_series
from publishing import series as series_planning
from publishing import services
from publishing.models import PostStatus, ScheduledPost, SeriesSlot
from publishing.tests.factories import make_approved_draft, make_post, make_schedule
from reviews.models import DraftState
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def test_a_series_starts_one_draft_per_free_slot_ahead_and_only_once(tenant_a, in_tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)  # every day at 09:00 UTC
    series = make_series(tenant=tenant_a, author=author)
    first_slot = services.next_free_slot(author=author, after=timezone.now() + series_planning.LEAD)
    make_post(tenant=tenant_a, draft=make_approved_draft(tenant=tenant_a, author=author), at=first_slot)
    planned = series_planning.series_plan(series=series, days=7, user=None)
    assert first_slot not in {slot.at for slot in planned}  # a post holds it already
    assert 5 <= len(planned) <= 6
    assert all(slot.run and slot.run.series_id == series.pk for slot in planned)
    assert "For the post of" in planned[0].run.brief
    assert series_planning.series_plan(series=series, days=7, user=None) == []
    assert FlowRun.objects.filter(series=series).count() == len(planned)
    # Another draft of the author is not queued into a slot the series reserved.
    other = services.post_schedule(draft=make_approved_draft(tenant=tenant_a, author=author), user=None)
    assert other.at > max(slot.at for slot in planned)


def test_planning_needs_slots_and_a_sensible_horizon(tenant_a, in_tenant_a):
    series = make_series(tenant=tenant_a)
    with pytest.raises(ValidationError, match="no posting slots"):
        series_planning.series_plan(series=series, days=7, user=None)
    make_schedule(tenant=tenant_a, author=series.author)
    with pytest.raises(ValidationError, match="1 to 60 days"):
        series_planning.series_plan(series=series, days=365, user=None)


def test_an_approved_planned_draft_goes_into_its_slot(tenant_a, tenant_b):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    series = make_series(tenant=tenant_a, author=author)
    with tenant_scope(tenant_a):
        first, second = series_planning.series_plan(series=series, days=3, user=None)[:2]
    make_draft(tenant=tenant_a, author=author, run=first.run, state=DraftState.APPROVED)
    make_draft(tenant=tenant_a, author=author, run=second.run, state=DraftState.READY)
    assert series_planning.series_drafts_queue() == 1
    with tenant_scope(tenant_a):
        first.refresh_from_db()
        assert first.post is not None
        assert (first.post.at, first.post.status) == (first.at, PostStatus.SCHEDULED)
        assert SeriesSlot.objects.get(pk=second.pk).post is None
        assert ScheduledPost.objects.count() == 1
    assert series_planning.series_drafts_queue() == 0  # once
    with tenant_scope(tenant_b):
        assert not SeriesSlot.objects.exists()


def test_a_planned_draft_approved_after_its_slot_passed_takes_the_next_free_one(tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    series = make_series(tenant=tenant_a, author=author)
    with tenant_scope(tenant_a):
        [slot] = series_planning.series_plan(series=series, days=2, user=None)[:1]
        SeriesSlot.objects.filter(pk=slot.pk).update(at=timezone.now() - timedelta(hours=2))
    make_draft(tenant=tenant_a, author=author, run=slot.run, state=DraftState.APPROVED)
    assert series_planning.series_drafts_queue() == 1
    with tenant_scope(tenant_a):
        slot.refresh_from_db()
        assert slot.post is not None
        assert slot.post.at > timezone.now()
