"""From approved to published: posting schedules, queueing and moving posts, delivering them to their
channel with retries, marking them delivered, and the authors' LinkedIn connections.

    schedule_save(author=..., time_zone="Europe/Lisbon", slots=[{"weekday": 1, "time": "09:00"}])
    post_schedule(draft=..., user=...)                  # the next free slot of the author's schedule
    post_schedule(draft=..., user=..., at=datetime)     # or a chosen time
    post_move(post=..., at=...) / post_cancel(post=...) / post_mark_delivered(post=..., external_id=...)
    posts_due(now=...) -> [(tenant_id, post_id, due)]   # Celery beat, every 30 s (publishing.tasks)
    post_publish(post_id=..., due=...)                  # one attempt, in the post's tenant scope

A post is delivered exactly once: an attempt first claims the post (`publishing`) in a transaction of
its own, so a second worker with the same message finds nothing to do; a post whose worker died
mid-call is marked failed for a person to check on LinkedIn, never sent again by itself.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record
from authors.models import Author
from common.crypto import encrypt_secret
from orchestrator.flows.series import parse_cron, series_save
from orchestrator.models import Series
from orchestrator.selectors import flow_choices
from publishing import linkedin
from publishing import slots as slot_math
from publishing.models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    Channel,
    ConnectionStatus,
    Delivery,
    DeliveryStatus,
    LinkedInConnection,
    PostingSchedule,
    PostStatus,
    ScheduledPost,
    SeriesSlot,
)
from publishing.revocation import Revocation, linkedin_tokens_revoke
from reviews.models import Draft, DraftState
from reviews.services import draft_deliver
from tenants.models import User
from webhooks.models import WebhookEvent
from webhooks.services import webhook_event_emit

logger = logging.getLogger("maestro.publishing")

POST_DELIVERED_EVENT = WebhookEvent.POST_DELIVERED
TOKEN_REFRESH_MARGIN = timedelta(days=1)  # refresh an access token this long before it expires


class PublishingError(ValidationError):
    """A publishing action that is not possible now; the message says why."""


def _conf(name: str) -> float:
    return float(settings.MAESTRO_PUBLISHING[name])


# ---- schedules ------------------------------------------------------------------------------------


def schedule_of(*, author: Author) -> PostingSchedule:
    """The author's schedule, or an unsaved empty one in UTC."""
    return PostingSchedule.objects.filter(author=author).first() or PostingSchedule(author=author)


def schedule_save(
    *, author: Author, time_zone: str, slots: list, channel: str = Channel.EXTERNAL, user: User | None = None
) -> PostingSchedule:
    """Set the author's weekday slots (in their time zone) and the channel new posts go to."""
    slot_math.zone(time_zone)
    cleaned = slot_math.clean_slots(slots)
    if channel not in Channel.values:
        raise PublishingError({"channel": f"{channel!r} is not a channel."})
    schedule = schedule_of(author=author)
    before = {"time_zone": schedule.time_zone, "slots": schedule.slots, "channel": schedule.channel}
    schedule.time_zone = time_zone.strip()
    schedule.slots = [slot.as_json() for slot in cleaned]
    schedule.channel = channel
    schedule.save()
    after = {"time_zone": schedule.time_zone, "slots": schedule.slots, "channel": schedule.channel}
    record(action="publishing.schedule_changed", target=author, actor=user, before=before, after=after)
    return schedule


def schedule_slots(schedule: PostingSchedule) -> list[slot_math.Slot]:
    return slot_math.clean_slots(schedule.slots)


def _taken(author: Author, *, exclude_post_id: int | None = None) -> set[datetime]:
    """Instants the author's live posts hold, and the slots a series planned a draft for."""
    now = timezone.now()
    live = ScheduledPost.objects.filter(author=author, status__in=LIVE_STATUSES, at__gte=now)
    if exclude_post_id:
        live = live.exclude(pk=exclude_post_id)
    reserved = SeriesSlot.objects.filter(author=author, at__gte=now, post__isnull=True)
    return set(live.values_list("at", flat=True)) | set(reserved.values_list("at", flat=True))


def next_free_slot(
    *, author: Author, after: datetime | None = None, exclude_post_id: int | None = None
) -> datetime:
    """The first slot of the author's schedule after `after` (now) that no live post of theirs holds."""
    schedule = schedule_of(author=author)
    if not schedule.slots:
        raise PublishingError(
            f"{author} has no posting schedule yet: add weekday slots, or choose a time for this post."
        )
    instant = slot_math.next_free(
        schedule_slots(schedule),
        slot_math.zone(schedule.time_zone),
        after=after or timezone.now(),
        taken=_taken(author, exclude_post_id=exclude_post_id),
    )
    if instant is None:
        raise PublishingError(f"Every slot of {author} for the next 26 weeks is taken; choose a time.")
    return instant


def free_slots(*, author: Author, count: int, exclude_post_id: int | None = None) -> list[datetime]:
    """The author's next `count` free slot instants (none without a schedule)."""
    schedule = schedule_of(author=author)
    if not schedule.slots:
        return []
    now, taken = timezone.now(), _taken(author, exclude_post_id=exclude_post_id)
    instants = slot_math.slot_instants(
        schedule_slots(schedule), slot_math.zone(schedule.time_zone), after=now, until=now + slot_math.HORIZON
    )
    found: list[datetime] = []
    for instant in instants:
        if instant not in taken:
            found.append(instant)
        if len(found) == count:
            break
    return found


# ---- queueing and moving posts ----------------------------------------------------------------------


def _clean_at(at: datetime) -> datetime:
    if timezone.is_naive(at):
        raise PublishingError({"at": "Give the time with its time zone."})
    at = at.replace(microsecond=0)
    if at <= timezone.now():
        raise PublishingError({"at": "Choose a time in the future."})
    return at


def _check_channel(author: Author, channel: str) -> None:
    if channel not in Channel.values:
        raise PublishingError({"channel": f"{channel!r} is not a channel."})
    if channel == Channel.LINKEDIN and active_connection(author=author) is None:
        raise PublishingError(
            {"channel": f"Connect {author}'s LinkedIn first (Calendar → the author's publishing page)."}
        )


def _save_live(post: ScheduledPost, *, update_fields: list[str] | None = None) -> ScheduledPost:
    """Save a post that holds its time; a second live post of the author at that instant is refused."""
    try:
        with transaction.atomic():
            if update_fields is None:
                post.save()
            else:
                post.save(update_fields=[*update_fields, "updated_at"])
    except IntegrityError as exc:
        local = timezone.localtime(post.at, slot_math.zone(schedule_of(author=post.author).time_zone))
        raise PublishingError(
            {"at": f"{post.author} already has a post at {local:%a %d %b %H:%M}; choose another time."}
        ) from exc
    return post


@transaction.atomic
def post_schedule(
    *, draft: Draft, user: User | None, at: datetime | None = None, channel: str | None = None
) -> ScheduledPost:
    """Queue an approved draft: into the author's next free slot, or at a chosen time."""
    draft = Draft.objects.select_for_update().select_related("author").get(pk=draft.pk)
    if draft.state != DraftState.APPROVED:
        raise PublishingError(
            f"Only an approved draft can be scheduled; this one is {draft.get_state_display().lower()}."
        )
    post = ScheduledPost.objects.filter(draft=draft).first()
    if post is not None and post.status not in (PostStatus.CANCELLED, PostStatus.FAILED):
        raise PublishingError(
            f"This draft is already {post.get_status_display().lower()} for "
            f"{post.at:%Y-%m-%d %H:%M} UTC; move it instead."
        )
    author = draft.author
    channel = channel or schedule_of(author=author).channel
    _check_channel(author, channel)
    at = _clean_at(at) if at is not None else next_free_slot(author=author)
    post = post or ScheduledPost(draft=draft, author=author)
    post.at, post.next_attempt_at, post.channel = at, at, channel
    post.status, post.last_error, post.created_by = PostStatus.SCHEDULED, "", user
    return _save_live(post)


@transaction.atomic
def post_move(*, post: ScheduledPost, at: datetime | None = None) -> ScheduledPost:
    """Move a post to another time (None: the author's next free slot). A failed post moved is
    scheduled again: its next delivery is a new record."""
    post = ScheduledPost.objects.select_for_update().select_related("author").get(pk=post.pk)
    if post.status not in OPEN_STATUSES:
        raise PublishingError(f"A post that is {post.get_status_display().lower()} cannot be moved.")
    at = _clean_at(at) if at is not None else next_free_slot(author=post.author, exclude_post_id=post.pk)
    if post.status == PostStatus.RETRYING:
        _finish_delivery(post, DeliveryStatus.FAILED, error="moved to another time before it was delivered")
    post.at, post.next_attempt_at, post.status, post.last_error = at, at, PostStatus.SCHEDULED, ""
    return _save_live(post, update_fields=["at", "next_attempt_at", "status", "last_error"])


@transaction.atomic
def post_retry(*, post: ScheduledPost) -> ScheduledPost:
    """Try a failed post again now, at its scheduled time kept (a new delivery record)."""
    post = ScheduledPost.objects.select_for_update().get(pk=post.pk)
    if post.status != PostStatus.FAILED:
        raise PublishingError(
            f"Only a failed post is retried; this one is {post.get_status_display().lower()}."
        )
    _check_channel(post.author, post.channel)
    post.status, post.next_attempt_at = PostStatus.SCHEDULED, timezone.now().replace(microsecond=0)
    return _save_live(post, update_fields=["status", "next_attempt_at"])


@transaction.atomic
def post_cancel(*, post: ScheduledPost) -> ScheduledPost:
    """Take a post off the calendar; the draft stays approved and can be scheduled again."""
    post = ScheduledPost.objects.select_for_update().get(pk=post.pk)
    if post.status not in OPEN_STATUSES:
        raise PublishingError(f"A post that is {post.get_status_display().lower()} cannot be cancelled.")
    if post.status == PostStatus.RETRYING:
        _finish_delivery(post, DeliveryStatus.FAILED, error="cancelled")
    post.status, post.next_attempt_at = PostStatus.CANCELLED, None
    post.save(update_fields=["status", "next_attempt_at", "updated_at"])
    return post


@transaction.atomic
def post_mark_delivered(
    *, post: ScheduledPost, external_id: str, url: str = "", user: User | None
) -> ScheduledPost:
    """Another system (a CRM, a person) published the post: record where, and deliver the draft."""
    external_id = external_id.strip()
    if not external_id:
        raise PublishingError({"external_id": "Give the post's id in the system that published it."})
    url = _clean_url(url)
    post = ScheduledPost.objects.select_for_update().select_related("draft", "author").get(pk=post.pk)
    if post.status == PostStatus.DELIVERED:
        if post.external_id == external_id:
            return post  # a CRM retrying its call: already recorded
        raise PublishingError(f"This post was already delivered as {post.external_id!r}.")
    if post.status not in OPEN_STATUSES:
        raise PublishingError(
            f"A post that is {post.get_status_display().lower()} cannot be marked delivered."
        )
    delivery = _current_delivery(post) or Delivery(post=post, channel=post.channel)
    delivery.marked_by = user
    delivery.save()
    before = {"status": post.status}
    post = _delivered(post, delivery, external_id=external_id, url=url, user=user)
    after = {"status": post.status, "external_id": external_id, "external_url": url}
    record(action="publishing.post_marked_delivered", target=post, actor=user, before=before, after=after)
    return post


def _clean_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise PublishingError({"url": "Give an http(s) link to the published post, or none."}) from exc
    return url


# ---- delivering -------------------------------------------------------------------------------------


def posts_due(*, now: datetime | None = None) -> list[tuple[int, int, str]]:
    """(tenant id, post id, due time) of every LinkedIn post whose attempt is due, for the beat task.

    Also fails, for a person to check, posts left `publishing` by a worker that died mid-call."""
    now = now or timezone.now()
    # Celery beat serves every tenant: it lists due posts across tenants; each attempt then runs in
    # its own tenant's scope (publishing.tasks.publish_post).
    posts = ScheduledPost.objects.unscoped()
    stuck_before = now - timedelta(seconds=_conf("stuck_after_seconds"))
    for post in posts.filter(status=PostStatus.PUBLISHING, updated_at__lt=stuck_before):
        _fail_stuck(post)
    due = posts.filter(
        channel=Channel.LINKEDIN,
        status__in=(PostStatus.SCHEDULED, PostStatus.RETRYING),
        next_attempt_at__lte=now,
    ).order_by("next_attempt_at")
    return [(p.tenant_id, p.pk, p.next_attempt_at.isoformat()) for p in due if p.next_attempt_at]


def _fail_stuck(post: ScheduledPost) -> None:
    with transaction.atomic():
        message = (
            "The attempt was interrupted while LinkedIn was being called: check the author's feed, "
            "then mark the post delivered or move it to publish it again."
        )
        # This runs outside any tenant scope (see posts_due): the rows are reached from the post.
        Delivery.objects.unscoped().filter(post=post, status=DeliveryStatus.IN_PROGRESS).update(
            status=DeliveryStatus.FAILED, error=message, finished_at=timezone.now()
        )
        ScheduledPost.objects.unscoped().filter(pk=post.pk, status=PostStatus.PUBLISHING).update(
            status=PostStatus.FAILED, last_error=message, next_attempt_at=None, updated_at=timezone.now()
        )


@dataclass(frozen=True)
class AttemptOutcome:
    status: str  # "delivered", "retrying", "failed", or "skipped" (not due, moved or held elsewhere)
    detail: str = ""


def _claim(post_id: int, due: datetime) -> tuple[ScheduledPost, Delivery] | None:
    with transaction.atomic():
        post = (
            ScheduledPost.objects.select_for_update(skip_locked=True)
            .select_related("draft", "author")
            .filter(pk=post_id, status__in=(PostStatus.SCHEDULED, PostStatus.RETRYING), next_attempt_at=due)
            .first()
        )
        if post is None:
            return None
        delivery = _current_delivery(post) or Delivery(post=post, channel=post.channel)
        delivery.status = DeliveryStatus.IN_PROGRESS
        delivery.save()
        post.status = PostStatus.PUBLISHING
        post.save(update_fields=["status", "updated_at"])
    return post, delivery


def post_publish(*, post_id: int, due: datetime, rng: random.Random | None = None) -> AttemptOutcome:
    """One attempt to publish a post whose time (`due`, as listed by posts_due) has come."""
    claimed = _claim(post_id, due)
    if claimed is None:
        return AttemptOutcome("skipped", "not due, moved, or held by another worker")
    post, delivery = claimed
    try:
        urn = _publish_to_linkedin(post)
    except linkedin.LinkedInError as exc:
        return _attempt_failed(post, delivery, exc, rng=rng)
    with transaction.atomic():
        _log_attempt(delivery, status_code=201, error="")
        _delivered(post, delivery, external_id=urn, url=linkedin.post_url(urn), user=None)
    return AttemptOutcome("delivered", urn)


def _publish_to_linkedin(post: ScheduledPost) -> str:
    connection = active_connection(author=post.author)
    if connection is None:
        raise linkedin.LinkedInError(
            f"{post.author}'s LinkedIn is not connected; connect it again.", reconnect=True
        )
    connection = connection_fresh(connection=connection)
    return linkedin.create_post(
        access_token=connection.access_token(), author_urn=connection.author_urn, text=post.draft.body
    )


def _backoff(attempt: int, rng: random.Random | None) -> float:
    ceiling = min(_conf("backoff_cap_seconds"), _conf("backoff_seconds") * 2 ** (attempt - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def _attempt_failed(
    post: ScheduledPost, delivery: Delivery, exc: linkedin.LinkedInError, *, rng: random.Random | None
) -> AttemptOutcome:
    with transaction.atomic():
        _log_attempt(delivery, status_code=exc.status_code, error=exc.message)
        if exc.reconnect:
            LinkedInConnection.objects.filter(
                author_id=post.author_id, status=ConnectionStatus.ACTIVE
            ).update(status=ConnectionStatus.EXPIRED)
        if exc.retryable and delivery.attempts < _conf("max_attempts"):
            wait = max(exc.retry_after or 0.0, _backoff(delivery.attempts, rng))
            post.status, post.next_attempt_at = PostStatus.RETRYING, timezone.now() + timedelta(seconds=wait)
            delivery.status = DeliveryStatus.RETRYING
            outcome = AttemptOutcome("retrying", f"{exc.message} Next attempt in {round(wait)} s.")
        else:
            post.status, post.next_attempt_at = PostStatus.FAILED, None
            delivery.status, delivery.finished_at = DeliveryStatus.FAILED, timezone.now()
            outcome = AttemptOutcome("failed", exc.message)
        post.last_error = exc.message
        delivery.error = exc.message
        delivery.save()
        post.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
    logger.info("post %s attempt %s: %s", post.pk, delivery.attempts, outcome.detail)
    return outcome


def _log_attempt(delivery: Delivery, *, status_code: int | None, error: str) -> None:
    delivery.attempts += 1
    delivery.attempt_log = [
        *delivery.attempt_log,
        {"at": timezone.now().isoformat(), "status_code": status_code, "error": error},
    ]
    delivery.last_status_code = status_code
    delivery.save()


def _current_delivery(post: ScheduledPost) -> Delivery | None:
    open_states = (DeliveryStatus.IN_PROGRESS, DeliveryStatus.RETRYING)
    return Delivery.objects.filter(post=post, status__in=open_states).order_by("-created_at").first()


def _finish_delivery(post: ScheduledPost, status: str, *, error: str) -> None:
    delivery = _current_delivery(post)
    if delivery is not None:
        delivery.status, delivery.error, delivery.finished_at = status, error, timezone.now()
        delivery.save(update_fields=["status", "error", "finished_at"])


def _delivered(
    post: ScheduledPost, delivery: Delivery, *, external_id: str, url: str, user: User | None
) -> ScheduledPost:
    now = timezone.now()
    delivery.status, delivery.external_id, delivery.finished_at, delivery.error = (
        DeliveryStatus.SUCCEEDED,
        external_id,
        now,
        "",
    )
    delivery.save()
    post.status, post.external_id, post.external_url = PostStatus.DELIVERED, external_id, url
    post.delivered_at, post.next_attempt_at, post.last_error = now, None, ""
    post.save(
        update_fields=[
            "status",
            "external_id",
            "external_url",
            "delivered_at",
            "next_attempt_at",
            "last_error",
            "updated_at",
        ]
    )
    draft_deliver(draft_id=post.draft_id, user=user)
    webhook_event_emit(tenant=post.draft.tenant, event=POST_DELIVERED_EVENT, data=post_payload(post))
    return post


def post_payload(post: ScheduledPost) -> dict:
    """What a webhook (and the export) says about a post: its text and where it went."""
    draft = post.draft
    return {
        "post_id": post.pk,
        "draft_id": draft.pk,
        "author_id": post.author_id,
        "author_name": post.author.name,
        "channel": post.channel,
        "status": post.status,
        "scheduled_at": post.at.isoformat(),
        "delivered_at": post.delivered_at.isoformat() if post.delivered_at else None,
        "external_id": post.external_id,
        "external_url": post.external_url,
        "text": draft.body,
        "flow_name": draft.flow_name,
        "prompt_version_id": draft.prompt_version_id,
        "experiment_id": draft.experiment_id,
        "variant": draft.variant,
    }


# ---- LinkedIn connections ---------------------------------------------------------------------------


def active_connection(*, author: Author) -> LinkedInConnection | None:
    return LinkedInConnection.objects.filter(author=author, status=ConnectionStatus.ACTIVE).first()


@transaction.atomic
def linkedin_connect(*, author: Author, code: str, user: User | None) -> LinkedInConnection:
    """The OAuth callback's work: trade the code for tokens, learn the member's id, keep both."""
    tokens = linkedin.exchange_code(code=code)
    member = linkedin.userinfo(access_token=tokens.access_token)
    connection = LinkedInConnection.objects.filter(author=author).first() or LinkedInConnection(author=author)
    connection.member_id = member["sub"]
    connection.member_name = str(member.get("name") or "")[:200]
    connection.connected_by, connection.revoked_at = user, None
    _store_tokens(connection, tokens)
    after = {"member_id": connection.member_id, "scopes": connection.scopes}
    record(action="publishing.linkedin_connected", target=author, actor=user, after=after)
    return connection


def _store_tokens(connection: LinkedInConnection, tokens: linkedin.Tokens) -> None:
    connection.access_token_encrypted = encrypt_secret(tokens.access_token)
    if tokens.refresh_token:  # a refresh keeps the refresh token unless LinkedIn sends a new one
        connection.refresh_token_encrypted = encrypt_secret(tokens.refresh_token)
        connection.refresh_expires_at = tokens.refresh_expires_at
    connection.expires_at = tokens.expires_at
    connection.scopes = tokens.scopes or connection.scopes
    connection.status = ConnectionStatus.ACTIVE
    connection.save()


def connection_fresh(*, connection: LinkedInConnection) -> LinkedInConnection:
    """The connection with an access token that is good for at least a day: refreshed when LinkedIn
    gave this app refresh tokens, else an error asking for the author to connect again once expired."""
    if connection.expires_at - timezone.now() > TOKEN_REFRESH_MARGIN:
        return connection
    if not connection.refresh_token_encrypted:
        if connection.expires_at > timezone.now():
            return connection  # still valid, only soon not: the calendar shows the expiry
        raise linkedin.LinkedInError(
            f"{connection.author}'s LinkedIn token expired on {connection.expires_at:%Y-%m-%d}; "
            "connect it again.",
            reconnect=True,
        )
    with transaction.atomic():
        # One refresh at a time: a second worker waits here, then finds the fresh token.
        locked = LinkedInConnection.objects.select_for_update().select_related("author").get(pk=connection.pk)
        if locked.expires_at - timezone.now() > TOKEN_REFRESH_MARGIN:
            return locked
        try:
            tokens = linkedin.refresh(refresh_token=locked.refresh_token())
        except linkedin.LinkedInError as exc:
            if exc.retryable:
                raise
            raise linkedin.LinkedInError(
                f"LinkedIn refused to refresh {locked.author}'s token ({exc.message}); connect it again.",
                status_code=exc.status_code,
                reconnect=True,
            ) from exc
        locked.refreshed_at = timezone.now()
        _store_tokens(locked, tokens)
    return locked


@transaction.atomic
def linkedin_disconnect(*, connection: LinkedInConnection, user: User | None = None) -> Revocation:
    """Revoke both tokens at LinkedIn, then forget them here (whatever LinkedIn answered: a failure is
    audited and retried in the background, publishing/revocation.py)."""
    outcome = linkedin_tokens_revoke(author=connection.author, user=user, reason="disconnected")
    record(
        action="publishing.linkedin_disconnected",
        target=connection.author,
        actor=user,
        before={"member_id": connection.member_id},
        after={"tokens": outcome.as_json()},
    )
    return outcome


# ---- series (the browser's series pages and the API) --------------------------------------------

SERIES_FIELDS = ("name", "author_id", "flow_name", "brief", "cron", "is_active")


def _series_values(series: Series) -> dict:
    return {field: getattr(series, field) for field in SERIES_FIELDS}


def _clean_series(series: Series) -> None:
    """What the series form checks, for callers without a form: a name and a brief, an active author,
    one of the tenant's active flows and a five-field cron that Celery beat can run."""
    errors: dict[str, str] = {}
    series.name, series.brief = series.name.strip(), series.brief.strip()
    if not series.name:
        errors["name"] = "Give the series a name."
    if not series.brief:
        errors["brief"] = "Say what the series is about."
    if not series.author.is_active:
        errors["author"] = f"{series.author} is archived: choose an active author."
    if series.flow_name not in dict(flow_choices()):
        errors["flow_name"] = f"{series.flow_name!r} is not one of the active flows."
    try:
        crontab(**parse_cron(series.cron))
    except ValidationError as exc:
        errors["cron"] = " ".join(exc.messages)
    except (ValueError, TypeError) as exc:
        errors["cron"] = f"Not a valid schedule: {exc}"
    if errors:
        raise PublishingError(errors)
    series.cron = " ".join(series.cron.split())


@transaction.atomic
def series_create(
    *,
    author: Author,
    name: str,
    brief: str,
    flow_name: str = "post",
    cron: str = "0 9 * * 1",
    is_active: bool = True,
    user: User | None,
) -> Series:
    """A new series of the author: Celery beat starts its flow on `cron` (UTC) while it is active."""
    series = Series(
        author=author, name=name, brief=brief, flow_name=flow_name, cron=cron, is_active=is_active,
        created_by=user,
    )  # fmt: skip
    _clean_series(series)
    series = series_save(series=series)
    record(action="series.created", target=series, actor=user, after=_series_values(series))
    return series


@transaction.atomic
def series_update(*, series: Series, user: User | None, **changes) -> Series:
    """Change some of a series' fields (name, author, flow_name, brief, cron, is_active)."""
    unknown = set(changes) - {"name", "author", "flow_name", "brief", "cron", "is_active"}
    if unknown:
        raise PublishingError(f"A series has no field {', '.join(sorted(unknown))}.")
    series = Series.objects.select_for_update().select_related("author").get(pk=series.pk)
    before = _series_values(series)
    for field, value in changes.items():
        setattr(series, field, value)
    _clean_series(series)
    series = series_save(series=series)
    after = _series_values(series)
    if after != before:
        record(action="series.changed", target=series, actor=user, before=before, after=after)
    return series


def series_set_active(*, series: Series, active: bool, user: User | None) -> Series:
    """Pause (False) or resume (True) a series' beat schedule; its drafts and plans stay."""
    return series_update(series=series, user=user, is_active=active)
