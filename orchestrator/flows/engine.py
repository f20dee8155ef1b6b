"""Runs a flow: steps in order, each stored when it finishes, so a run resumes after a crash
without repeating (or paying again for) finished steps. Called by a Celery task."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from authors.selectors import current_style_profile
from orchestrator.flows import events, steps
from orchestrator.flows.definitions import Step, parse_steps
from orchestrator.flows.finishing import LANGUAGE_NAMES, language_mismatch
from orchestrator.flows.steps import RunContext, StepFailedError
from orchestrator.models import FINISHED_STATUSES, FlowRun, RunStatus, StepRun, StepStatus
from reviews.models import Draft, DraftState
from reviews.services import transition
from telemetry.tracing import span

if TYPE_CHECKING:
    from orchestrator.sweeper import Lease

logger = logging.getLogger("maestro.flows")
TEXT_STEPS = {"generate", "revise", "transform", "fanout", "http"}


def execute_run(run: FlowRun, *, lease: Lease | None = None) -> Draft | None:
    """Run the flow; with a worker's `lease` (orchestrator/sweeper.py) it stops before any step once
    the lease is lost, so a run taken over after a stall never runs a step twice at once."""
    if run.status in FINISHED_STATUSES:
        return getattr(run, "draft", None)
    definition = parse_steps(run.steps)
    draft = _draft_for(run)
    if lease is not None:  # claiming the run made it running
        events.publish(run.pk, "run", status=RunStatus.RUNNING)
    elif run.status != RunStatus.RUNNING:
        FlowRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
        events.publish(run.pk, "run", status=RunStatus.RUNNING)
    ctx = RunContext(run=run, author=run.author, profile=draft.profile)
    ctx.outputs.update(_finished_outputs(run))
    position = 0
    while position < len(definition):
        if lease is not None:
            lease.check()
        step = definition[position]
        output = _run_step(ctx, step, position)
        if step.type in TEXT_STEPS and "text" in output:
            ctx.last_text_step = step.id
        if step.type == "branch" and output.get("taken"):
            position = next(i for i, s in enumerate(definition) if s.id == output["goto"])
            continue
        position += 1
    if lease is not None:
        lease.check()
    return _finish(run, draft, ctx)


def _draft_for(run: FlowRun) -> Draft:
    draft = Draft.objects.filter(run=run).first()
    if draft is None:
        draft = Draft.objects.create(
            run=run,
            author=run.author,
            flow_name=run.definition.name,
            brief=run.brief,
            profile=current_style_profile(author=run.author),
            state=DraftState.GENERATING,
        )
    return draft


def _finished_outputs(run: FlowRun) -> dict[str, dict]:
    done = StepRun.objects.filter(run=run, status__in=[StepStatus.SUCCEEDED, StepStatus.SKIPPED])
    return {step_run.key: step_run.output for step_run in done}


def _run_step(ctx: RunContext, step: Step, position: int) -> dict:
    if step.type == "revise":
        return _revise_loop(ctx, step, position)
    return run_once(ctx, step.id, step.type, position, lambda: steps.HANDLERS[step.type](ctx, step))


def run_once(ctx: RunContext, key: str, step_type: str, position: int, work: Callable[[], dict]) -> dict:
    """Run `work` as the step `key` unless it already finished; store its output when it does."""
    if key in ctx.outputs:
        return ctx.outputs[key]
    step_run, _ = StepRun.objects.get_or_create(
        run=ctx.run, key=key, defaults={"step_type": step_type, "position": position}
    )
    StepRun.objects.filter(pk=step_run.pk).update(
        status=StepStatus.RUNNING, attempts=step_run.attempts + 1, error="", started_at=timezone.now()
    )
    ctx.step_key, ctx.attempt, ctx.call_ids, ctx.cost_micros = key, step_run.attempts + 1, [], 0
    events.publish(ctx.run.pk, "step", key=key, type=step_type, status=StepStatus.RUNNING)
    try:
        with span(f"step {key}", _step_attributes(ctx, key, step_type)):
            output = work()
    except StepFailedError as exc:
        _store(step_run, ctx, status=StepStatus.FAILED, error=str(exc))
        events.publish(ctx.run.pk, "step", key=key, type=step_type, status=StepStatus.FAILED, error=str(exc))
        raise
    _store(step_run, ctx, status=StepStatus.SUCCEEDED, output=output)
    ctx.outputs[key] = output
    events.publish(
        ctx.run.pk,
        "step",
        key=key,
        type=step_type,
        status=StepStatus.SUCCEEDED,
        cost_micros=ctx.cost_micros,
        text=output.get("text", "")[:4000],
    )
    return output


def _step_attributes(ctx: RunContext, key: str, step_type: str) -> dict[str, object]:
    return {
        "maestro.tenant_id": ctx.run.tenant_id,
        "maestro.flow_run_id": ctx.run.pk,
        "maestro.step": key,
        "maestro.step_type": step_type,
        "maestro.step_attempt": ctx.attempt,
    }


def _store(
    step_run: StepRun, ctx: RunContext, *, status: str, output: dict | None = None, error: str = ""
) -> None:
    StepRun.objects.filter(pk=step_run.pk).update(
        status=status,
        output=output or {},
        error=error,
        call_ids=ctx.call_ids,
        cost_micros=ctx.cost_micros,
        finished_at=timezone.now(),
    )
    if ctx.cost_micros:
        FlowRun.objects.filter(pk=ctx.run.pk).update(cost_micros=F("cost_micros") + ctx.cost_micros)


def _revise_loop(ctx: RunContext, step: Step, position: int) -> dict:
    """Critique the target; while the verdict fails and rounds remain, revise and critique again."""
    critique_step = Step(step.id, "critique", {"prompt": step.get("critique_prompt", "critique")})
    text = ctx.text_of(step.get("target"))
    rounds = 0
    verdict = run_once(
        ctx,
        f"{step.id}.critique.0",
        "critique",
        position,
        lambda: steps.critique(ctx, critique_step, draft=text),
    )["verdict"]
    while verdict.get("passes") is False and rounds < step.get("max_rounds", 2):
        rounds += 1
        notes = steps.critique_text(verdict)
        revised = run_once(
            ctx,
            f"{step.id}.revise.{rounds}",
            "revise",
            position,
            partial(steps.revise, ctx, prompt=step.get("prompt", "revise"), draft=text, notes=notes),
        )
        text = revised["text"]
        verdict = run_once(
            ctx,
            f"{step.id}.critique.{rounds}",
            "critique",
            position,
            partial(steps.critique, ctx, critique_step, draft=text),
        )["verdict"]
    output = {"text": text, "rounds": rounds, "verdict": verdict}
    ctx.outputs[step.id] = output
    return output


def attention_reasons(ctx: RunContext, text: str) -> list[dict]:
    """Every step that could not do its job (its output says "attention"), and what is wrong with
    the draft itself that no step could fix: empty, or in another language than the author's."""
    reasons = [
        {"step": key, "reason": str(reason)}
        for key, output in ctx.outputs.items()
        if isinstance(output, dict)
        for reason in output.get("attention") or []
    ]
    if not text.strip() and not any("empty" in r["reason"] for r in reasons):
        reasons.append({"step": "finish", "reason": "The flow produced no text: the draft is empty."})
    wrong_language = language_mismatch(text, ctx.author.language)
    if wrong_language:
        reasons.append(
            {
                "step": "finish",
                "reason": f"The draft is in {LANGUAGE_NAMES[wrong_language]}, "
                f"but {ctx.author.name} writes in {ctx.author.language}.",
            }
        )
    return reasons


@transaction.atomic
def _finish(run: FlowRun, draft: Draft, ctx: RunContext) -> Draft:
    text = ctx.text_of(ctx.last_text_step) if ctx.last_text_step else ""
    text = steps.finish_text(ctx, text)[0]  # whatever the steps did: no leaks, whole sentences, in budget
    attention = attention_reasons(ctx, text)
    status = RunStatus.NEEDS_ATTENTION if attention else RunStatus.SUCCEEDED
    review = next(
        (
            out
            for out in ctx.outputs.values()
            if isinstance(out, dict) and "verdict" in out and "rounds" in out
        ),
        {},
    )
    first_call = next(
        (out for out in ctx.outputs.values() if isinstance(out, dict) and out.get("prompt_version_id")), {}
    )
    run.refresh_from_db()
    Draft.objects.filter(pk=draft.pk).update(
        body=text,
        original_body=text,
        critique=review.get("verdict", {}),
        revision_rounds=review.get("rounds", 0),
        prompt_version_id=first_call.get("prompt_version_id"),
        experiment_id=first_call.get("experiment_id"),
        variant=first_call.get("variant") or "",
        cost_micros=run.cost_micros,
    )
    draft.refresh_from_db()
    transition(draft, DraftState.READY, actor=None, reason="generated")
    FlowRun.objects.filter(pk=run.pk).update(status=status, attention=attention, finished_at=timezone.now())
    if attention:
        logger.warning("flow run %s needs attention: %s", run.pk, "; ".join(r["reason"] for r in attention))
    transaction.on_commit(
        lambda: events.publish(run.pk, "run", status=status, draft=draft.pk, attention=attention)
    )
    return draft


def fail_run(run: FlowRun, reason: str) -> None:
    FlowRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, error=reason, finished_at=timezone.now()
    )
    events.publish(run.pk, "run", status=RunStatus.FAILED, error=reason)
    logger.warning("flow run %s failed: %s", run.pk, reason)
