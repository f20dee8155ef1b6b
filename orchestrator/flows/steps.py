"""What each step type does. Each handler takes the run's context and the step, returns the step's
output (JSON), and makes its model calls through the gateway with ids derived from the run and
step, so a step re-run after a crash reuses an answer that was already paid for."""

from __future__ import annotations

import contextvars
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from django.db import connections

from authors.models import Author, StyleProfile
from common import net
from common import text as text_checks
from common.money import MICROS_PER_UNIT
from gateway import GatewayError, GatewayRequest
from gateway.loop import call_streaming
from gateway.models import Trace, TraceStatus
from memories.selectors import retrieve_memories
from orchestrator.flows import events
from orchestrator.flows.definitions import Step
from orchestrator.models import FlowRun
from prompts.rendering import PromptRenderError
from prompts.selectors import PromptNotFoundError, resolve_prompt

CALL_NAMESPACE = uuid.UUID("5b0c2f4e-7a51-4c1e-9a43-0f7d1d6f2b10")


class StepFailedError(Exception):
    """A step that cannot succeed now; `transient` says whether retrying the run later can help."""

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass
class RunContext:
    run: FlowRun
    author: Author
    profile: StyleProfile | None
    outputs: dict[str, dict] = field(default_factory=dict)
    step_key: str = ""
    attempt: int = 1
    call_ids: list[str] = field(default_factory=list)
    cost_micros: int = 0
    last_text_step: str | None = None

    def variables(self) -> dict[str, str]:
        """Everything a prompt of this run may use; each template takes the names it declares."""
        return {
            "author_name": self.author.name,
            "author_headline": self.author.headline,
            "audience": self.author.audience,
            "language": self.author.language,
            "style_card": style_card_text(self.profile),
            "samples": "\n---\n".join(self.profile.sample_posts) if self.profile else "",
            "memories": self.outputs.get("__memories_text", {}).get("text", ""),
            "brief": self.run.brief,
        }

    def text_of(self, step_id: str | None) -> str:
        """The text a step wrote; empty when there is no such step (or none is named)."""
        if step_id is None:
            return ""
        return self.outputs.get(step_id, {}).get("text", "")


def style_card_text(profile: StyleProfile | None) -> str:
    if profile is None:
        return "(no style card yet: write plainly and professionally)"
    parts = [f"Tone: {profile.tone}"] if profile.tone else []
    for label, values in (
        ("Prefer", profile.vocabulary_prefer),
        ("Avoid", profile.vocabulary_avoid),
        ("Never write", profile.banned_phrases),
    ):
        if values:
            parts.append(f"{label}: " + "; ".join(values))
    if profile.formatting:
        parts.append("Formatting: " + "; ".join(f"{k}: {v}" for k, v in profile.formatting.items()))
    return "\n".join(parts)


# ---- model calls --------------------------------------------------------------------------------


def _call_id(ctx: RunContext, attempt: int, suffix: str = "") -> uuid.UUID:
    return uuid.uuid5(CALL_NAMESPACE, f"{ctx.run.tenant_id}:{ctx.run.pk}:{ctx.step_key}{suffix}:{attempt}")


def _paid_answer(ctx: RunContext, suffix: str) -> Trace | None:
    """An earlier attempt of this step whose call succeeded before the worker died."""
    ids = [_call_id(ctx, attempt, suffix) for attempt in range(1, ctx.attempt)]
    return Trace.objects.filter(pk__in=ids, status=TraceStatus.OK).first() if ids else None


def call_model(
    ctx: RunContext,
    *,
    purpose: str,
    prompt_purpose: str,
    extra: dict | None = None,
    stream_text: bool = False,
    suffix: str = "",
    cacheable: bool = True,
) -> dict:
    try:
        resolved = resolve_prompt(purpose=prompt_purpose, ab_key=f"run-{ctx.run.pk}")
        declared = {v["name"] for v in resolved.version.variables}
        values = {**ctx.variables(), **(extra or {})}
        messages = resolved.render({k: v for k, v in values.items() if k in declared})
    except (PromptNotFoundError, PromptRenderError) as exc:
        raise StepFailedError(f"prompt {prompt_purpose!r}: {exc}") from exc
    prompt_info = {
        "prompt_version_id": resolved.version.pk,
        "variant": resolved.variant,
        "experiment_id": resolved.experiment_id,
    }
    paid = _paid_answer(ctx, suffix)
    if paid is not None:
        ctx.call_ids.append(str(paid.pk))
        return {
            "text": paid.response,
            "call_id": str(paid.pk),
            "model": paid.model_alias,
            "reused": True,
            **prompt_info,
        }
    call_id = _call_id(ctx, ctx.attempt, suffix)
    request = GatewayRequest(
        tenant=ctx.run.tenant,
        purpose=purpose,
        messages=messages,
        user_id=ctx.run.created_by_id,
        api_key_id=ctx.run.api_key_id,
        api_key_tokens_per_minute=int(ctx.run.inputs.get("api_key_tokens_per_minute") or 0),
        author_id=ctx.author.pk,
        flow_run_id=ctx.run.pk,
        step=ctx.step_key,
        call_id=call_id,
        prompt_version_id=resolved.version.pk,
        profile_version=ctx.profile.version if ctx.profile else None,
        cacheable=cacheable,
        **resolved.model_parameters,
    )
    on_event = _delta_publisher(ctx) if stream_text else None
    ctx.call_ids.append(str(call_id))
    try:
        response = call_streaming(request, on_event=on_event)
    except GatewayError as exc:
        transient = exc.http_status in (429, 502, 503)
        raise StepFailedError(
            f"{exc.code}: {exc.message}", transient=transient, retry_after=exc.retry_after
        ) from exc
    cost = int(response.cost * MICROS_PER_UNIT)
    ctx.cost_micros += cost
    return {
        "text": response.text,
        "call_id": str(call_id),
        "model": response.model,
        "cost_micros": cost,
        **prompt_info,
    }


def _delta_publisher(ctx: RunContext) -> Callable[[str, str], None]:
    run_id, step_key = ctx.run.pk, ctx.step_key

    def publish(kind: str, text: str) -> None:
        events.publish(run_id, kind, step=step_key, text=text)

    return publish


# ---- verdicts -----------------------------------------------------------------------------------

JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_verdict(text: str) -> dict:
    """The critic's JSON, tolerating prose or code fences around it. Unusable -> passes is None."""
    match = JSON_OBJECT.search(text or "")
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("passes"), bool):
        return {
            "passes": None,
            "score": None,
            "issues": ["The critic's answer was not a usable verdict."],
            "suggestions": [],
            "raw": (text or "")[:2000],
        }
    score = data.get("score")
    return {
        "passes": data["passes"],
        "score": score if isinstance(score, int | float) else None,
        "issues": [str(i) for i in data.get("issues") or []][:20],
        "suggestions": [str(s) for s in data.get("suggestions") or []][:20],
    }


def critique_text(verdict: dict) -> str:
    lines = [f"- {issue}" for issue in verdict.get("issues", [])]
    lines += [f"- Suggestion: {s}" for s in verdict.get("suggestions", [])]
    return "\n".join(lines) or "- Tighten it."


# ---- handlers -----------------------------------------------------------------------------------


def retrieve(ctx: RunContext, step: Step) -> dict:
    found = retrieve_memories(author=ctx.author, query=ctx.run.brief, limit=step.get("limit", 8))
    items = [
        {"id": m.memory.pk, "kind": m.memory.kind, "text": m.memory.text, "score": round(m.score, 4)}
        for m in found
    ]
    text = "\n".join(f"- ({item['kind']}) {item['text']}" for item in items)
    ctx.outputs["__memories_text"] = {"text": text}
    return {"memories": items, "text": text}


def generate(ctx: RunContext, step: Step) -> dict:
    return call_model(
        ctx, purpose=step.get("purpose", "post"), prompt_purpose=step.get("prompt", "post"), stream_text=True
    )


def critique(ctx: RunContext, step: Step, *, draft: str | None = None, suffix: str = "") -> dict:
    draft = draft if draft is not None else ctx.text_of(step.get("target"))
    answer = call_model(
        ctx,
        purpose="critique",
        prompt_purpose=step.get("prompt", "critique"),
        extra={"draft": draft},
        suffix=suffix,
    )
    return {**answer, "verdict": parse_verdict(answer["text"]), "text": draft}


def transform(ctx: RunContext, step: Step) -> dict:
    text = ctx.text_of(step.get("target") or ctx.last_text_step)
    banned = ctx.profile.banned_phrases if ctx.profile else []
    for op in step.get("ops", []):
        text = TRANSFORMS[op](text, banned)
    return {"text": text}


def _max_hashtags(text: str, limit: int = 3) -> str:
    seen = 0

    def keep(match: re.Match) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= limit else ""

    return re.sub(r"(?<!\w)#\w+", keep, text).rstrip()


def _remove_banned(text: str, banned: list[str]) -> str:
    for phrase in banned:
        if phrase.strip():
            text = re.sub(re.escape(phrase.strip()), "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", text)


TRANSFORMS: dict[str, Callable[[str, list[str]], str]] = {
    "trim": lambda text, _b: text.strip(),
    "collapse_blank_lines": lambda text, _b: re.sub(r"\n{3,}", "\n\n", text),
    "strip_markdown": lambda text, _b: re.sub(r"(\*\*|__|`|^#+\s)", "", text, flags=re.MULTILINE),
    "max_hashtags_3": lambda text, _b: _max_hashtags(text),
    "remove_banned_phrases": _remove_banned,
}


def branch(ctx: RunContext, step: Step) -> dict:
    """`if` is `<step>.passes`, `<step>.failed`, or `<step>.score<N` / `>=N` on a critique verdict."""
    condition = step.get("if")
    match = re.fullmatch(r"(\w+)\.(passes|failed|score)(?:(<|>=)(\d+(?:\.\d+)?))?", condition)
    if not match:
        raise StepFailedError(f"branch condition {condition!r} is not understood")
    source, attribute, operator, number = match.groups()
    verdict = ctx.outputs.get(source, {}).get("verdict", {})
    if attribute == "passes":
        taken = verdict.get("passes") is True
    elif attribute == "failed":
        taken = verdict.get("passes") is False
    else:
        score = verdict.get("score") or 0
        taken = score < float(number) if operator == "<" else score >= float(number)
    return {"taken": taken, "goto": step.get("goto")}


def fanout(ctx: RunContext, step: Step) -> dict:
    variants = step.get("variants", 3)
    purpose, prompt = step.get("purpose", "post"), step.get("prompt", "post")

    def one(index: int) -> dict:
        try:
            # Variants of one request must differ: never served from the cache.
            answer = call_model(
                ctx, purpose=purpose, prompt_purpose=prompt, suffix=f".v{index}", cacheable=False
            )
            rank_step = Step("rank", "critique", {"prompt": step.get("rank_prompt", "critique")})
            verdict = critique(ctx, rank_step, draft=answer["text"], suffix=f".rank{index}")["verdict"]
            return {"text": answer["text"], "score": verdict.get("score"), "passes": verdict.get("passes")}
        finally:
            connections.close_all()  # this thread's own database connection

    # Model calls are I/O on the shared gateway loop: these threads only wait for them. Each gets a
    # copy of the context so the tenant scope comes along.
    with ThreadPoolExecutor(max_workers=variants) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, i) for i in range(1, variants + 1)]
        results = [future.result() for future in futures]
    best = max(range(variants), key=lambda i: (results[i]["passes"] is True, results[i]["score"] or 0))
    return {"text": results[best]["text"], "variants": results, "chosen": best}


def http_call(ctx: RunContext, step: Step) -> dict:
    url = step.get("url")
    check_outbound_url(url)
    payload = {
        "run": ctx.run.pk,
        "author": ctx.author.name,
        "brief": ctx.run.brief,
        "text": ctx.text_of(step.get("target") or ctx.last_text_step),
    }
    delay = 0.5
    for attempt in range(1, 4):
        try:
            # Connects only to the address the guard checked (no DNS-rebinding window); no redirects.
            with net.guarded_client(timeout=step.get("timeout", 10)) as client:
                response = client.post(url, json=payload)
        except net.OutboundURLRefusedError as exc:
            raise StepFailedError(str(exc)) from exc
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        else:
            if response.status_code < 500 and response.status_code != 429:
                return _http_step_output(response)
            error = f"HTTP {response.status_code}"
        if attempt < 3:
            time.sleep(delay)
            delay *= 2
    raise StepFailedError(f"{url} failed 3 times ({error})", transient=True)


def _http_step_output(response: httpx.Response) -> dict:
    """The receiver's answer as the step stores it: outside text, so made storable (common/text.py)."""
    body: object = text_checks.sanitise(response.text)
    if "json" in response.headers.get("content-type", ""):
        try:
            parsed = response.json()
        except (ValueError, RecursionError):
            parsed = None
        if parsed is not None and not text_checks.too_deep(parsed):
            body = text_checks.sanitise_value(parsed)
    text = body.get("text") if isinstance(body, dict) else None
    return {
        "status": response.status_code,
        "response": body if len(str(body)) < 20000 else "(large)",
        **({"text": text} if isinstance(text, str) else {}),
    }


def check_outbound_url(url: str) -> None:
    """The shared guard (common.net), as a step failure the run reports."""
    try:
        net.check_outbound_url(url)
    except net.OutboundURLRefusedError as exc:
        raise StepFailedError(str(exc)) from exc


HANDLERS: dict[str, Callable[[RunContext, Step], dict]] = {
    "retrieve": retrieve,
    "generate": generate,
    "critique": critique,
    "transform": transform,
    "branch": branch,
    "fanout": fanout,
    "http": http_call,
}
