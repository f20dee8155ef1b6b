"""A reviewer asked for changes: rerun the flow's revise step on the current text with their notes."""

from __future__ import annotations

from django.db import transaction

from orchestrator.flows import events
from orchestrator.flows.engine import run_once
from orchestrator.flows.steps import RunContext, revise
from reviews.models import Draft, DraftState, DraftTransition
from reviews.services import transition


def revise_on_request(draft: Draft, round_number: int) -> Draft:
    if draft.state != DraftState.CHANGES_REQUESTED or draft.run is None:
        return draft  # already handled (a redelivered task) or not from a flow
    request = DraftTransition.objects.filter(draft=draft, to_state=DraftState.CHANGES_REQUESTED).last()
    ctx = RunContext(run=draft.run, author=draft.author, profile=draft.profile, fresh=True)
    key = f"human.revise.{round_number}"
    output = run_once(
        ctx,
        key,
        "revise",
        1000 + round_number,
        lambda: revise(
            ctx, prompt="revise", draft=draft.body, notes=request.reason if request else "Improve it."
        ),
    )
    with transaction.atomic():
        locked = Draft.objects.select_for_update().get(pk=draft.pk)
        if locked.state != DraftState.CHANGES_REQUESTED:
            return locked
        locked.body = locked.original_body = output["text"]
        locked.cost_micros += output.get("cost_micros", 0)
        locked.save(update_fields=["body", "original_body", "cost_micros", "updated_at"])
        transition(locked, DraftState.READY, actor=None, reason=f"revised (round {round_number})")
    events.publish(ctx.run.pk, "draft", state=DraftState.READY, draft=draft.pk)
    return locked
