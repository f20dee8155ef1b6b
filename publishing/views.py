"""The publishing pages: the calendar (week and month), scheduling an approved draft, moving, retrying
and cancelling posts, an author's schedule and LinkedIn connection, results, CSV upload and export.

Thin: parse the request, call one service or selector, render. The calendar is one fragment
(`publishing/calendar.html#calendar`) that htmx swaps when a writer pages through weeks or moves a post.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from authors.models import Author
from authors.selectors import access_author, authors
from common.forms import add_validation_errors
from orchestrator.selectors import access_series
from prompts.models import PromptExperiment
from publishing import export, linkedin, metrics, selectors, services
from publishing import series as series_planning
from publishing import slots as slot_math
from publishing.forms import (
    DeliveredForm,
    ExportForm,
    MetricsUploadForm,
    PostTimeForm,
    ScheduleForm,
    SchedulePostForm,
)
from publishing.models import LIVE_STATUSES, Channel, PostStatus, ScheduledPost
from publishing.panels import author_results_context
from reviews import selectors as review_selectors
from reviews.models import DraftState
from tenants.access import tenant_view
from tenants.context import tenant_scope
from tenants.http import LoggedInRequest, TenantRequest
from tenants.models import Tenant
from tenants.roles import Permission, role_allows
from tenants.selectors import membership_for

OAUTH_SALT = "publishing.linkedin.oauth"
OAUTH_MAX_AGE = 600  # seconds a member has to consent on LinkedIn
OAUTH_SESSION_KEY = "publishing_linkedin_nonce"


# ---- the calendar -----------------------------------------------------------------------------------


def _parse_day(text: str | None) -> date:
    try:
        return date.fromisoformat(text) if text else timezone.localdate()
    except ValueError:
        return timezone.localdate()


def _author_filter(value: str | None) -> Author | None:
    if not value or not value.isdigit():
        return None
    return access_author(author_id=int(value))


def _calendar_context(params) -> dict:
    view = "month" if params.get("view") == "month" else "week"
    author = _author_filter(params.get("author"))
    tz = selectors.zone_of(author=author)
    anchor = _parse_day(params.get("start"))
    context: dict = {"view": view, "author": author, "tz": tz, "tz_name": str(tz)}
    if view == "month":
        first = anchor.replace(day=1)
        context |= {
            "start": first,
            "weeks": selectors.month_grid(month=first, tz=tz, author=author),
            "previous": (first - timedelta(days=1)).replace(day=1),
            "next": (first + timedelta(days=32)).replace(day=1),
        }
    else:
        first = selectors.week_start(anchor)
        context |= {
            "start": first,
            "days": selectors.calendar_days(first=first, days=7, tz=tz, author=author),
            "previous": first - timedelta(days=7),
            "next": first + timedelta(days=7),
        }
    context["free_slots"] = [slot for day in context.get("days", []) for slot in day.free_slots]
    context["attention"] = selectors.posts_needing_attention()
    context["waiting"] = selectors.due_external_posts()
    context["authors"] = authors(active_only=False)
    return context


def _render_calendar(request: TenantRequest, params) -> HttpResponse:
    context = _calendar_context(params)
    template = "publishing/calendar.html#calendar" if request.htmx else "publishing/calendar.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@tenant_view(read=Permission.VIEW)
@require_GET
def calendar(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return _render_calendar(request, request.GET)


@tenant_view(read=Permission.VIEW)
@require_GET
def queue(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    """The publish queue: what needs attention, then every coming post in order."""
    context = {
        "attention": selectors.posts_needing_attention(),
        "waiting": selectors.due_external_posts(),
        "upcoming": selectors.posts(
            start=timezone.now(), statuses=[PostStatus.SCHEDULED, PostStatus.PUBLISHING]
        )[:200],
        "linkedin_authors": selectors.linkedin_authors(),
    }
    return render(request, "publishing/queue.html", context)


def _after_post_action(request: TenantRequest, tenant_slug: str, post: ScheduledPost) -> HttpResponse:
    """Back to the calendar (its fragment, for htmx) or to the post's page."""
    if request.htmx:
        return _render_calendar(request, request.POST)
    if request.POST.get("back") in ("calendar", "queue"):
        return redirect(reverse(f"publishing:{request.POST['back']}", kwargs={"tenant_slug": tenant_slug}))
    return redirect("publishing:draft", tenant_slug=tenant_slug, draft_id=post.draft_id)


def _post_action(
    request: TenantRequest, tenant_slug: str, draft_id: int, action, success: str
) -> HttpResponse:
    post = selectors.access_post_of_draft(draft_id=draft_id)
    try:
        action(post)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return _after_post_action(request, tenant_slug, post)


@tenant_view(write=Permission.WRITE)
@require_POST
def post_move(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    post = selectors.access_post_of_draft(draft_id=draft_id)
    form = PostTimeForm(request.POST, tz=selectors.zone_of(author=post.author))

    def move(post: ScheduledPost) -> None:
        if not form.is_valid():
            raise ValidationError([e for errors in form.errors.values() for e in errors])
        services.post_move(post=post, at=form.cleaned_data["at"])

    return _post_action(request, tenant_slug, draft_id, move, "Moved.")


@tenant_view(write=Permission.WRITE)
@require_POST
def post_retry(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    return _post_action(
        request,
        tenant_slug,
        draft_id,
        lambda post: services.post_retry(post=post),
        "Sent again: it goes out now.",
    )


@tenant_view(write=Permission.WRITE)
@require_POST
def post_cancel(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    return _post_action(
        request,
        tenant_slug,
        draft_id,
        lambda post: services.post_cancel(post=post),
        "Taken off the calendar.",
    )


@tenant_view(write=Permission.WRITE)
@require_POST
def post_delivered(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    form = DeliveredForm(request.POST)

    def mark(post: ScheduledPost) -> None:
        if not form.is_valid():
            raise ValidationError([e for errors in form.errors.values() for e in errors])
        data = form.cleaned_data
        services.post_mark_delivered(
            post=post, external_id=data["external_id"], url=data["url"], user=request.user
        )

    return _post_action(request, tenant_slug, draft_id, mark, "Marked delivered.")


# ---- one draft's way out --------------------------------------------------------------------------


@tenant_view(read=Permission.VIEW, write=Permission.WRITE)
@require_http_methods(["GET", "POST"])
def draft_post(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    """Schedule an approved draft (next free slot or a chosen time), or see where it stands."""
    draft = review_selectors.access_draft(draft_id=draft_id)
    post = selectors.post_of_draft(draft_id=draft.pk)
    tz = selectors.zone_of(author=draft.author)
    schedule = selectors.schedule_of(author=draft.author)
    linked = selectors.connection_of(author=draft.author)
    initial_channel = schedule.channel if schedule else Channel.EXTERNAL
    form = SchedulePostForm(request.POST or None, tz=tz, initial={"channel": initial_channel, "when": "next"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            post = services.post_schedule(
                draft=draft, user=request.user, at=data["at"], channel=data["channel"]
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            local = timezone.localtime(post.at, tz)
            messages.success(request, f"Scheduled for {local:%a %d %b %Y %H:%M} ({tz}).")
            return redirect("publishing:draft", tenant_slug=tenant_slug, draft_id=draft.pk)
    can_schedule = draft.state == DraftState.APPROVED and (
        post is None or post.status in (PostStatus.CANCELLED, PostStatus.FAILED)
    )
    context = {
        "draft": draft,
        "post": post,
        "deliveries": selectors.post_deliveries(post=post) if post else [],
        "form": form,
        "move_form": PostTimeForm(tz=tz),
        "free_slots": services.free_slots(
            author=draft.author, count=12, exclude_post_id=post.pk if post else None
        ),
        "delivered_form": DeliveredForm(),
        "can_schedule": can_schedule,
        "tz": tz,
        "schedule": schedule,
        "slot_labels": slot_math.slots_text(slot_math.clean_slots(schedule.slots)) if schedule else "",
        "connection": linked,
        "markdown": export.post_markdown(export.rows([post])[0]) if post else "",
    }
    if request.htmx and request.GET.get("part") == "post" and post is not None:
        # While a post is being published or waits for a retry, its card polls for the outcome.
        return render(request, "publishing/draft.html#post", context)
    return render(request, "publishing/draft.html", context)


# ---- an author: schedule, LinkedIn, results ----------------------------------------------------------


@tenant_view(read=Permission.VIEW, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def author_page(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    author = access_author(author_id=author_id)
    schedule = selectors.schedule_of(author=author)
    initial = {
        "time_zone": schedule.time_zone if schedule else "UTC",
        "slots": slot_math.slots_text(slot_math.clean_slots(schedule.slots)) if schedule else "",
        "channel": schedule.channel if schedule else Channel.EXTERNAL,
    }
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.schedule_save(
                author=author,
                time_zone=data["time_zone"],
                slots=data["slots"],
                channel=data["channel"],
                user=request.user,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"Posting schedule of {author} saved.")
            return redirect("publishing:author", tenant_slug=tenant_slug, author_id=author.pk)
    tz = selectors.zone_of(author=author)
    now = timezone.now()
    context = {
        "author": author,
        "form": form,
        "schedule": schedule,
        "tz": tz,
        "connection": selectors.connection_of(author=author),
        "linkedin_ready": linkedin.is_configured(),
        **author_results_context(author=author),
        "series": selectors.series_of(author=author),
        "planned": selectors.planned_slots(author=author),
        "upcoming": selectors.posts(start=now, author_id=author.pk, statuses=list(LIVE_STATUSES))[:10],
    }
    return render(request, "publishing/author.html", context)


@tenant_view(write=Permission.WRITE)
@require_POST
def series_plan(request: TenantRequest, tenant_slug: str, author_id: int, series_id: int) -> HttpResponse:
    """Start a draft of the series for each free slot of its author in the next days."""
    author = access_author(author_id=author_id)
    chosen = access_series(series_id=series_id)
    if chosen.author_id != author.pk:
        raise Http404("No such series for this author")
    try:
        days = int(request.POST.get("days") or series_planning.DEFAULT_PLAN_DAYS)
        planned = series_planning.series_plan(series=chosen, days=days, user=request.user)
    except ValueError:
        messages.error(request, "Give the number of days to plan ahead.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{len(planned)} draft{'s' if len(planned) != 1 else ''} of “{chosen.name}” started "
            "for free slots.",
        )
    return redirect("publishing:author", tenant_slug=tenant_slug, author_id=author.pk)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def linkedin_connect(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    """Send the member to LinkedIn's consent page; the state names tenant, author and this session."""
    author = access_author(author_id=author_id)
    nonce = secrets.token_urlsafe(16)
    request.session[OAUTH_SESSION_KEY] = nonce
    state = signing.dumps(
        {"tenant": request.tenant.pk, "author": author.pk, "user": request.user.pk, "nonce": nonce},
        salt=OAUTH_SALT,
    )
    try:
        return redirect(linkedin.authorization_url(state=state))
    except linkedin.LinkedInError as exc:
        messages.error(request, exc.message)
        return redirect("publishing:author", tenant_slug=tenant_slug, author_id=author.pk)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def linkedin_disconnect(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    author = access_author(author_id=author_id)
    connection = selectors.connection_of(author=author)
    if connection is not None:
        outcome = services.linkedin_disconnect(connection=connection, user=request.user)
        if outcome.ok:
            messages.success(request, f"{author}'s LinkedIn is disconnected; Maestro keeps no token of it.")
        else:
            messages.warning(request, f"{author}'s LinkedIn is disconnected. {outcome.message}")
    return redirect("publishing:author", tenant_slug=tenant_slug, author_id=author.pk)


def _oauth_state(request: LoggedInRequest) -> dict:
    try:
        state = signing.loads(request.GET.get("state", ""), salt=OAUTH_SALT, max_age=OAUTH_MAX_AGE)
    except signing.BadSignature as exc:
        raise PermissionDenied(
            "This LinkedIn answer is not one Maestro asked for, or it is too old."
        ) from exc
    nonce = request.session.pop(OAUTH_SESSION_KEY, None)
    if state.get("user") != request.user.pk or not nonce or state.get("nonce") != nonce:
        raise PermissionDenied("This LinkedIn answer belongs to another sign-in; connect again.")
    return state


@login_required
@require_GET
def linkedin_callback(request: LoggedInRequest) -> HttpResponse:
    """LinkedIn sends the member back here (one redirect URL for every tenant) with a code or an error."""
    state = _oauth_state(request)
    tenant = Tenant.objects.filter(pk=state["tenant"], is_active=True).first()
    membership = membership_for(user=request.user, tenant=tenant) if tenant else None
    if tenant is None or membership is None:
        raise Http404("No such tenant")
    if not role_allows(membership.role, Permission.EDIT_CONTENT):
        raise PermissionDenied("Your role in this tenant does not allow connecting LinkedIn.")
    with tenant_scope(tenant):
        author = access_author(author_id=state["author"])
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            messages.error(request, f"LinkedIn was not connected: {reason[:200]}.")
        else:
            try:
                connection = services.linkedin_connect(
                    author=author, code=request.GET.get("code", ""), user=request.user
                )
            except linkedin.LinkedInError as exc:
                messages.error(request, f"LinkedIn was not connected: {exc.message}")
            else:
                messages.success(
                    request, f"Connected to LinkedIn as {connection.member_name or connection.member_id}."
                )
    return redirect("publishing:author", tenant_slug=tenant.slug, author_id=state["author"])


@tenant_view(write=Permission.WRITE)
@require_POST
def metrics_pull(request: TenantRequest, tenant_slug: str, author_id: int) -> HttpResponse:
    author = access_author(author_id=author_id)
    report = metrics.metrics_pull(tenant=request.tenant, author_id=author.pk)
    if report.errors:
        messages.error(request, f"{report.updated} posts updated; " + "; ".join(report.errors[:3]))
    else:
        messages.success(request, f"Metrics of {report.updated} LinkedIn posts updated.")
    return redirect("publishing:author", tenant_slug=tenant_slug, author_id=author.pk)


# ---- results, CSV upload and export ------------------------------------------------------------------


@tenant_view(read=Permission.VIEW, write=Permission.WRITE)
@require_http_methods(["GET", "POST"])
def results(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    upload = MetricsUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        try:
            count = metrics.metrics_import_csv(text=upload.cleaned_data["file"])
        except ValidationError as exc:
            add_validation_errors(upload, exc)
        else:
            messages.success(request, f"Metrics of {count} posts recorded.")
            return redirect("publishing:results", tenant_slug=tenant_slug)
    experiments = PromptExperiment.objects.select_related("template").order_by("-started_at")[:20]
    context = {
        "upload": upload,
        "by_version": metrics.results_by_prompt_version(),
        "by_model": metrics.results_by_model(),
        "experiments": [(e, metrics.experiment_results(experiment=e)) for e in experiments],
    }
    return render(request, "publishing/results.html", context)


@tenant_view(read=Permission.VIEW)
@require_GET
def export_posts(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    today = timezone.localdate()
    form = ExportForm(
        request.GET or None, initial={"start": today - timedelta(days=30), "end": today, "format": "csv"}
    )
    if not request.GET or not form.is_valid():
        return render(request, "publishing/export.html", {"form": form})
    data = form.cleaned_data
    start = datetime.combine(data["start"], time(0), tzinfo=UTC)
    end = datetime.combine(data["end"] + timedelta(days=1), time(0), tzinfo=UTC)
    posts = (
        selectors.posts(start=start, end=end).exclude(status=PostStatus.CANCELLED).select_related("metrics")
    )
    title = f"Posts of {request.tenant.name}, {data['start']:%Y-%m-%d} to {data['end']:%Y-%m-%d}"
    body = export.render(export.rows(posts), fmt=data["format"], title=title)
    response = HttpResponse(body, content_type=f"{export.FORMATS[data['format']]}; charset=utf-8")
    name = f"posts-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.{export.EXTENSIONS[data['format']]}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
