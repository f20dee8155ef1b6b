"""Reads of the calendar and the queue, scoped to the current tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from authors.models import Author
from orchestrator.models import Series
from publishing import slots as slot_math
from publishing.models import (
    LIVE_STATUSES,
    ConnectionStatus,
    Delivery,
    LinkedInConnection,
    PostingSchedule,
    PostStatus,
    ScheduledPost,
    SeriesSlot,
)

UTC_ZONE = ZoneInfo("UTC")


def access_post(*, post_id: int) -> ScheduledPost:
    """The post of the current tenant, or 404 (for missing and foreign alike)."""
    return get_object_or_404(ScheduledPost.objects.select_related("draft", "author", "metrics"), pk=post_id)


def access_post_of_draft(*, draft_id: int) -> ScheduledPost:
    """The post of a draft of the current tenant, or 404."""
    return get_object_or_404(ScheduledPost.objects.select_related("draft", "author"), draft_id=draft_id)


def post_of_draft(*, draft_id: int) -> ScheduledPost | None:
    return ScheduledPost.objects.select_related("author").filter(draft_id=draft_id).first()


def post_deliveries(*, post: ScheduledPost) -> QuerySet[Delivery]:
    return Delivery.objects.filter(post=post).select_related("marked_by")


def deliveries(
    *, post_id: int | None = None, status: str | None = None, channel: str | None = None
) -> QuerySet[Delivery]:
    """Every delivery of the tenant's posts, newest first, optionally of one post, status and channel."""
    queryset = Delivery.objects.select_related("post")
    if post_id is not None:
        queryset = queryset.filter(post_id=post_id)
    if status:
        queryset = queryset.filter(status=status)
    if channel:
        queryset = queryset.filter(channel=channel)
    return queryset


def access_delivery(*, delivery_id: int) -> Delivery:
    """One delivery of the current tenant's posts, or 404 (for missing and foreign alike)."""
    return get_object_or_404(Delivery.objects.select_related("post"), pk=delivery_id)


def schedules() -> QuerySet[PostingSchedule]:
    """The saved posting schedules of the tenant's authors (an author without one posts nowhere)."""
    return PostingSchedule.objects.select_related("author")


def schedule_of(*, author: Author) -> PostingSchedule | None:
    return PostingSchedule.objects.filter(author=author).first()


def zone_of(*, author: Author | None) -> ZoneInfo:
    """The author's posting time zone (UTC when no author or no schedule)."""
    schedule = schedule_of(author=author) if author is not None else None
    return slot_math.zone(schedule.time_zone) if schedule is not None else UTC_ZONE


def connection_of(*, author: Author) -> LinkedInConnection | None:
    return LinkedInConnection.objects.filter(author=author).first()


def linkedin_authors() -> set[int]:
    """Ids of the authors with a working LinkedIn connection."""
    active = LinkedInConnection.objects.filter(status=ConnectionStatus.ACTIVE)
    return set(active.values_list("author_id", flat=True))


def posts(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    author_id: int | None = None,
    statuses: list[str] | None = None,
    channel: str | None = None,
) -> QuerySet[ScheduledPost]:
    """Posts by time (`start` <= at < `end`), optionally of one author, statuses and channel."""
    queryset = ScheduledPost.objects.select_related("draft", "author")
    if start is not None:
        queryset = queryset.filter(at__gte=start)
    if end is not None:
        queryset = queryset.filter(at__lt=end)
    if author_id is not None:
        queryset = queryset.filter(author_id=author_id)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if channel:
        queryset = queryset.filter(channel=channel)
    return queryset.order_by("at", "id")


def posts_needing_attention() -> QuerySet[ScheduledPost]:
    """Failed posts and posts waiting for a retry, oldest first: what the queue shows on top."""
    return posts(statuses=[PostStatus.FAILED, PostStatus.RETRYING])


def due_external_posts() -> QuerySet[ScheduledPost]:
    """External posts whose time has passed and that nobody marked delivered yet."""
    return posts(end=timezone.now(), statuses=[PostStatus.SCHEDULED]).exclude(channel="linkedin")


def series_of(*, author: Author) -> QuerySet[Series]:
    return Series.objects.filter(author=author).order_by("name")


def planned_slots(*, author: Author) -> QuerySet[SeriesSlot]:
    """The author's coming slots a series planned a draft for, with the run and the post."""
    return SeriesSlot.objects.filter(author=author, at__gte=timezone.now()).select_related(
        "series", "run", "post"
    )


# ---- the calendar -----------------------------------------------------------------------------------


@dataclass
class Day:
    day: date
    posts: list[ScheduledPost] = field(default_factory=list)
    free_slots: list[datetime] = field(default_factory=list)  # only when one author is shown
    in_month: bool = True

    @property
    def is_today(self) -> bool:
        return self.day == timezone.localdate()


def _day_bounds(first: date, days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def calendar_days(*, first: date, days: int, tz: ZoneInfo, author: Author | None) -> list[Day]:
    """The days from `first` (in `tz`) with their posts, and, for one author, their free slots."""
    start, end = _day_bounds(first, days, tz)
    by_day = {first + timedelta(days=n): Day(first + timedelta(days=n)) for n in range(days)}
    visible = posts(start=start, end=end, author_id=author.pk if author else None).exclude(
        status=PostStatus.CANCELLED
    )
    for post in visible:
        by_day[post.at.astimezone(tz).date()].posts.append(post)
    schedule = schedule_of(author=author) if author is not None else None
    if schedule is not None and schedule.slots:
        taken = set(
            ScheduledPost.objects.filter(author=author, status__in=LIVE_STATUSES).values_list("at", flat=True)
        )
        after = max(start, timezone.now())
        for instant in slot_math.slot_instants(
            slot_math.clean_slots(schedule.slots), tz, after=after, until=end
        ):
            if instant not in taken:
                by_day[instant.astimezone(tz).date()].free_slots.append(instant)
    return list(by_day.values())


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_grid(*, month: date, tz: ZoneInfo, author: Author | None) -> list[list[Day]]:
    """The weeks (Monday first) that cover the month of `month`, days outside it marked."""
    first = month.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    grid_start = week_start(first)
    weeks = ((next_month - grid_start).days + 6) // 7
    days = calendar_days(first=grid_start, days=weeks * 7, tz=tz, author=author)
    for day in days:
        day.in_month = day.day.month == first.month
    return [days[index : index + 7] for index in range(0, len(days), 7)]
