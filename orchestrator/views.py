"""The writer's pages: start a flow, watch it live, the review queue, drafts, learnings and series.

Thin: parse the request, call one service or selector, render. Live progress is Server-Sent
Events read from the run's Redis stream (see docs/flows-and-reviews.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.forms import add_validation_errors
from orchestrator import selectors
from orchestrator.flows import events
from orchestrator.flows.series import series_run_now, series_save
from orchestrator.flows.services import draft_revise, flow_start
from orchestrator.flows.services import run_regenerate as regenerate_run
from orchestrator.forms import (
    AssignForm,
    BodyForm,
    ChangesForm,
    FlowStartForm,
    QueueFilterForm,
    RejectForm,
    SeriesForm,
)
from orchestrator.models import Series
from reviews import selectors as review_selectors
from reviews import services as reviews
from reviews.models import Draft, DraftState, LearningProposal
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.models import Membership
from tenants.roles import Permission, role_allows
from tenants.selectors import tenant_members

# Server-Sent Events: how long one XREAD waits (a heartbeat comment goes out after each empty wait,
# so proxies keep the connection), and how long one response lives before the browser reconnects
# with Last-Event-ID (bounds the threads a dev server or a sync worker spends on watchers).
SSE_BLOCK_MS = 15_000
SSE_MAX_SECONDS = 300
STREAM_ID = re.compile(r"\d+(-\d+)?")
WAITING_STATES = (DraftState.GENERATING, DraftState.CHANGES_REQUESTED)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# ---- start a flow, watch it ---------------------------------------------------------------------


@tenant_view(read=Permission.WRITE, write=Permission.WRITE)
@require_http_methods(["GET", "POST"])
def flow_new(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = FlowStartForm(request.POST or None, initial={"author": request.GET.get("author")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run, _ = flow_start(
                author=data["author"], brief=data["brief"], flow_name=data["flow"], created_by=request.user
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            return redirect("orchestrator:run", tenant_slug=tenant_slug, run_id=run.pk)
    return render(request, "orchestrator/flow_new.html", {"form": form})


@tenant_view()
@require_GET
def run_detail(request: TenantRequest, tenant_slug: str, run_id: int) -> HttpResponse:
    run = selectors.access_run(run_id=run_id)
    context = {
        "run": run,
        "steps": selectors.run_steps(run=run),
        "draft": selectors.draft_of_run(run=run),
        "finished": run.status in selectors.FINISHED_RUN,
    }
    if request.GET.get("part") == "steps":
        return render(request, "orchestrator/run.html#steps", context)
    template = "orchestrator/run.html#run-live" if request.htmx else "orchestrator/run.html"
    return render(request, template, context)


@tenant_view(write=Permission.WRITE)
@require_POST
def run_regenerate(request: TenantRequest, tenant_slug: str, run_id: int) -> HttpResponse:
    """Try again: the same brief for the same author, never answered from the cache."""
    run = selectors.access_run(run_id=run_id)
    try:
        again = regenerate_run(run=run, created_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("orchestrator:run", tenant_slug=tenant_slug, run_id=run.pk)
    return redirect("orchestrator:run", tenant_slug=tenant_slug, run_id=again.pk)


@tenant_view()
@require_GET
def run_events(request: TenantRequest, tenant_slug: str, run_id: int) -> StreamingHttpResponse:
    """The run's progress as Server-Sent Events. Everything tenant-scoped happens here, before the
    response is returned: the stream itself runs after TenantMiddleware left the scope, and reads
    only Redis."""
    run = selectors.access_run(run_id=run_id)
    after = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    if not STREAM_ID.fullmatch(after):
        after = "0"
    finished = None
    if run.status in selectors.FINISHED_RUN:
        draft = selectors.draft_of_run(run=run)
        finished = {"status": run.status, "error": run.error, "draft": draft.pk if draft else None}
    response = StreamingHttpResponse(
        _event_stream(run.pk, after=after, finished=finished), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _event_stream(run_id: int, *, after: str, finished: dict | None) -> Iterator[str]:
    _release_db_connection()
    yield "retry: 2000\n\n"
    deadline = time.monotonic() + SSE_MAX_SECONDS
    last = after
    while time.monotonic() < deadline:
        # A finished run has all its events already: read without waiting, then say it ended.
        batch = events.read(run_id, after=last, block_ms=None if finished else SSE_BLOCK_MS)
        if not batch:
            if finished is not None:
                yield _sse_frame(None, "run", finished)  # its stream expired, or was read to the end
                return
            yield ": keep-alive\n\n"
            continue
        for event_id, kind, data in batch:
            last = event_id
            yield _sse_frame(event_id, kind, data)
            if kind == "run" and data.get("status") in selectors.FINISHED_RUN:
                return


def _sse_frame(event_id: str | None, kind: str, data: dict) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


def _release_db_connection() -> None:
    """A watcher may stay for minutes: give its database connection back first. (Not inside a
    transaction, i.e. tests, where closing would break the test's own transaction.)"""
    if not connection.in_atomic_block:
        connection.close()


# ---- review queue -----------------------------------------------------------------------------------


@tenant_view()
@require_GET
def draft_queue(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    drafts = review_selectors.drafts_queue(
        author=filters.get("author"),
        flow=filters.get("flow") or "",
        state=filters.get("state") or "",
        older_than=filters.get("age") or "",
    )
    context = {"form": form, "drafts": drafts[:200], "query": request.GET.urlencode()}
    template = "orchestrator/queue.html#results" if request.htmx else "orchestrator/queue.html"
    return render(request, template, context)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_next(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    author_id = request.POST.get("author")
    draft = reviews.draft_claim_next(user=request.user, author_id=int(author_id) if author_id else None)
    if draft is None:
        messages.info(request, "Nothing is waiting for review.")
        return redirect("orchestrator:drafts", tenant_slug=tenant_slug)
    return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)


@tenant_view(write=Permission.WRITE)
@require_POST
def drafts_bulk_approve(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    ids = [int(value) for value in request.POST.getlist("draft") if value.isdigit()]
    back = _safe_next(request, reverse("orchestrator:drafts", kwargs={"tenant_slug": tenant_slug}))
    if not ids:
        messages.warning(request, "Select the drafts to approve first.")
        return redirect(back)
    failures = reviews.drafts_bulk_approve(draft_ids=ids, user=request.user)
    approved = len(ids) - len(failures)
    if approved:
        messages.success(request, f"Approved {approved} draft{'s' if approved != 1 else ''}.")
    for draft_id, why in failures.items():
        messages.error(request, f"Draft {draft_id} was not approved: {why}")
    return redirect(back)


# ---- one draft ----------------------------------------------------------------------------------------


def _writers() -> list[Membership]:
    return [m for m in tenant_members() if role_allows(m.role, Permission.WRITE)]


def _draft_page(
    request: TenantRequest, draft: Draft, *, status: int = 200, **forms: BaseForm
) -> HttpResponse:
    mine = review_selectors.claim_is_live(draft) and draft.claimed_by_id == request.user.pk
    context = {
        "draft": draft,
        "claim_live": review_selectors.claim_is_live(draft),
        "mine": mine,
        "waiting": draft.state in WAITING_STATES,
        "body_form": forms.get("body_form") or BodyForm(initial={"body": draft.body}),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "changes_form": forms.get("changes_form") or ChangesForm(),
        "assign_form": AssignForm(members=_writers(), initial={"assignee": draft.assigned_to_id}),
        "diff": review_selectors.sentence_diff(draft.original_body, draft.body),
        "edited": draft.original_body != draft.body,
        "history": review_selectors.draft_history(draft=draft),
        "proposals": draft.learning_proposals.order_by("created_at"),
    }
    return render(request, "orchestrator/draft.html", context, status=status)


@tenant_view()
@require_GET
def draft_detail(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    if request.GET.get("part") == "poll":
        # While a model writes, the page polls; once it is done the whole page reloads.
        if draft.state in WAITING_STATES:
            return HttpResponse(status=204)
        return HttpResponse(headers={"HX-Refresh": "true"})
    return _draft_page(request, draft)


def _draft_action(
    request: TenantRequest, tenant_slug: str, draft_id: int, action: Callable[[Draft], None], success: str
) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    try:
        action(draft)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if success:
            messages.success(request, success)
    return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_claim(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    def claim(draft: Draft) -> None:
        reviews.draft_claim(draft_id=draft.pk, user=request.user)

    return _draft_action(request, tenant_slug, draft_id, claim, "")


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_release(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    def release(draft: Draft) -> None:
        reviews.draft_release(draft_id=draft.pk, user=request.user)

    return _draft_action(request, tenant_slug, draft_id, release, "Released: back in the queue.")


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_edit(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    form = BodyForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            draft = reviews.draft_edit(draft_id=draft.pk, user=request.user, body=form.cleaned_data["body"])
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = "A draft cannot be empty."
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)
    context = {
        "draft": draft,
        "diff": review_selectors.sentence_diff(draft.original_body, draft.body),
        "edited": draft.original_body != draft.body,
        "save_error": error,
        "saved": not error,
    }
    return render(request, "orchestrator/draft.html#diff", context)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_approve(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    body = request.POST.get("body")  # present when the reviewer holds the claim and edited in place
    try:
        draft = reviews.draft_approve(draft_id=draft.pk, user=request.user, body=body)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        count = draft.learning_proposals.count()
        learned = f" {count} learning{'s' if count != 1 else ''} proposed from your edit." if count else ""
        messages.success(request, f"Approved.{learned}")
    return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_reject(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            reviews.draft_reject(draft_id=draft.pk, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error("reason", exc.messages)
        else:
            messages.success(request, "Rejected. The reason was kept as feedback for this author.")
            return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)
    return _draft_page(request, draft, reject_form=form, status=400)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_request_changes(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    form = ChangesForm(request.POST)
    if form.is_valid():
        try:
            draft_revise(draft_id=draft.pk, user=request.user, instructions=form.cleaned_data["instructions"])
        except ValidationError as exc:
            form.add_error("instructions", exc.messages)
        else:
            messages.success(request, "Changes requested: the model is revising the draft.")
            return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)
    return _draft_page(request, draft, changes_form=form, status=400)


@tenant_view(write=Permission.WRITE)
@require_POST
def draft_assign(request: TenantRequest, tenant_slug: str, draft_id: int) -> HttpResponse:
    draft = review_selectors.access_draft(draft_id=draft_id)
    form = AssignForm(request.POST, members=_writers())
    if not form.is_valid():
        messages.error(request, "Choose a member who can review drafts.")
    else:
        assignee = form.members.get(form.cleaned_data["assignee"])
        reviews.draft_assign(draft_id=draft.pk, assignee=assignee, actor=request.user)
        messages.success(request, f"Assigned to {assignee}." if assignee else "Unassigned.")
    return redirect("orchestrator:draft", tenant_slug=tenant_slug, draft_id=draft.pk)


# ---- learning ------------------------------------------------------------------------------------------


@tenant_view()
@require_GET
def learnings(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    status = request.GET.get("status", LearningProposal.Status.PROPOSED)
    if status not in LearningProposal.Status.values:
        status = ""
    context = {
        "proposals": review_selectors.learning_proposals(status=status)[:200],
        "status": status,
        "statuses": LearningProposal.Status.choices,
        "by_author": review_selectors.review_stats_by_author(),
        "by_prompt": review_selectors.review_stats_by_prompt_version(),
    }
    return render(request, "orchestrator/learnings.html", context)


def _decide_learning(
    request: TenantRequest, tenant_slug: str, proposal_id: int, *, accept: bool
) -> HttpResponse:
    proposal = review_selectors.access_proposal(proposal_id=proposal_id)
    try:
        if accept:
            text = request.POST.get("text")
            proposal = reviews.learning_accept(proposal_id=proposal.pk, user=request.user, text=text)
        else:
            proposal = reviews.learning_dismiss(proposal_id=proposal.pk, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        done = f"Kept as a memory of {proposal.author}." if accept else "Dismissed."
        messages.success(request, done)
    return redirect(
        _safe_next(request, reverse("orchestrator:learnings", kwargs={"tenant_slug": tenant_slug}))
    )


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def learning_accept(request: TenantRequest, tenant_slug: str, proposal_id: int) -> HttpResponse:
    return _decide_learning(request, tenant_slug, proposal_id, accept=True)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def learning_dismiss(request: TenantRequest, tenant_slug: str, proposal_id: int) -> HttpResponse:
    return _decide_learning(request, tenant_slug, proposal_id, accept=False)


# ---- series ---------------------------------------------------------------------------------------------


@tenant_view()
@require_GET
def series_list(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return render(request, "orchestrator/series_list.html", {"series_list": selectors.series_list()})


def _series_form_page(request: TenantRequest, tenant_slug: str, series: Series | None = None) -> HttpResponse:
    form = SeriesForm(request.POST or None, instance=series)
    if request.method == "POST" and form.is_valid():
        instance = form.save(commit=False)
        if instance.created_by_id is None:
            instance.created_by = request.user
        try:
            instance = series_save(series=instance)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"Series “{instance.name}” saved.")
            return redirect("orchestrator:series", tenant_slug=tenant_slug, series_id=instance.pk)
    context = {
        "form": form,
        "series": series,
        "drafts": selectors.series_drafts(series=series) if series else [],
    }
    return render(request, "orchestrator/series_form.html", context)


@tenant_view(read=Permission.EDIT_CONTENT, write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def series_new(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    return _series_form_page(request, tenant_slug)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def series_edit(request: TenantRequest, tenant_slug: str, series_id: int) -> HttpResponse:
    return _series_form_page(request, tenant_slug, selectors.access_series(series_id=series_id))


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def series_toggle(request: TenantRequest, tenant_slug: str, series_id: int) -> HttpResponse:
    series = selectors.access_series(series_id=series_id)
    series.is_active = not series.is_active
    series_save(series=series)
    messages.success(request, f"“{series.name}” {'resumed' if series.is_active else 'paused'}.")
    return redirect("orchestrator:series_list", tenant_slug=tenant_slug)


@tenant_view(write=Permission.WRITE)
@require_POST
def series_run(request: TenantRequest, tenant_slug: str, series_id: int) -> HttpResponse:
    series = selectors.access_series(series_id=series_id)
    try:
        run = series_run_now(series)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("orchestrator:series", tenant_slug=tenant_slug, series_id=series.pk)
    return redirect("orchestrator:run", tenant_slug=tenant_slug, run_id=run.pk)
