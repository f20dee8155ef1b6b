"""Starting flows and managing their definitions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from authors.models import Author
from orchestrator import queueing
from orchestrator.flows.definitions import DEFAULT_FLOWS, parse_steps
from orchestrator.models import FlowDefinition, FlowRun
from orchestrator.selectors import live_flow_definition
from reviews.models import Draft
from reviews.services import draft_request_changes
from tenants.models import User

MAX_BRIEF_CHARS = 8000


def flow_definition_for(name: str) -> FlowDefinition:
    """The live version of `name`: the tenant's own active one first, else Maestro's shared one."""
    definition = live_flow_definition(name)
    if definition is None:
        raise ValidationError({"flow": f"There is no flow named {name!r}."})
    return definition


def flow_start(
    *,
    author: Author,
    brief: str,
    flow_name: str = "post",
    created_by: User | None = None,
    api_key_id: int | None = None,
    idempotency_key: str = "",
    inputs: dict | None = None,
    series_id: int | None = None,
    require_queue: bool = False,
    regenerate: bool = False,
) -> tuple[FlowRun, bool]:
    """Queue a run (returns at once; a worker executes it). Returns (run, created): the same
    idempotency key returns the run it started the first time.

    The run is saved before its message is sent; if the broker is down it stays `queued` and the
    sweeper sends it once the broker answers. With `require_queue` (the API) the caller also hears
    about it: QueueUnavailableError, carrying the saved run's id.

    With `regenerate`, and whenever the author already has a run of this brief, the run's model calls
    are never answered from the cache: the same brief asked again gets a new post."""
    brief = brief.strip()
    if not brief:
        raise ValidationError({"brief": "Say what the post is about."})
    if len(brief) > MAX_BRIEF_CHARS:
        raise ValidationError({"brief": f"Keep the brief under {MAX_BRIEF_CHARS} characters."})
    if not author.is_active:
        raise ValidationError({"author": f"{author.name} is archived."})
    if idempotency_key:
        existing = FlowRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    definition = flow_definition_for(flow_name)
    # The same brief again for the same author is a request for another post, not a repeat.
    regenerate = regenerate or FlowRun.objects.filter(author=author, brief=brief).exists()
    try:
        with transaction.atomic():
            run = FlowRun.objects.create(
                definition=definition,
                steps=definition.steps,
                author=author,
                brief=brief,
                inputs={**(inputs or {}), **({"regenerate": True} if regenerate else {})},
                created_by=created_by,
                api_key_id=api_key_id,
                idempotency_key=idempotency_key,
                series_id=series_id,
                enqueued_at=timezone.now(),  # sent on commit; the sweeper sends it again if it is lost
            )
    except IntegrityError:  # the same key raced in from a retry
        return FlowRun.objects.get(idempotency_key=idempotency_key), False
    tenant_id = run.tenant_id
    sending = queueing.enqueue_on_commit(queueing.RUN_FLOW, tenant_id, run.pk)
    if sending.failed and require_queue:
        raise queueing.QueueUnavailableError(sending.error, run.pk)
    return run, True


def run_regenerate(
    *,
    run: FlowRun,
    created_by: User | None = None,
    api_key_id: int | None = None,
    require_queue: bool = False,
) -> FlowRun:
    """Write the same brief again for the same author: a new run of the same flow whose calls skip
    the cache, so "try again" gives another post rather than the one already written."""
    new_run, _ = flow_start(
        author=run.author,
        brief=run.brief,
        flow_name=run.definition.name,
        created_by=created_by,
        api_key_id=api_key_id,
        inputs={k: v for k, v in run.inputs.items() if k != "regenerate"},
        regenerate=True,
        require_queue=require_queue,
    )
    return new_run


def flow_definitions_install() -> list[FlowDefinition]:
    """Install Maestro's shared flows (idempotent); needs cross-tenant access."""
    installed = []
    for name, (description, steps) in DEFAULT_FLOWS.items():
        parse_steps(steps)
        definition, _ = FlowDefinition.objects.get_or_create(
            tenant=None, name=name, version=1, defaults={"description": description, "steps": steps}
        )
        installed.append(definition)
    return installed


def draft_revise(*, draft_id: int, user: User, instructions: str) -> Draft:
    """A reviewer asks for changes: the draft goes back (reviews) and the revise step runs on a worker."""
    with transaction.atomic():
        draft = draft_request_changes(draft_id=draft_id, user=user, instructions=instructions)
        queueing.enqueue_on_commit(queueing.REVISE_DRAFT, draft.tenant_id, draft.pk, draft.human_rounds)
    return draft
