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
from common.crypto import CredentialError
from common.money import MICROS_PER_UNIT
from gateway import GatewayError, GatewayRequest
from gateway.loop import call_streaming
from gateway.models import Trace, TraceStatus
from gateway.providers.base import Message
from memories.selectors import retrieve_memories
from orchestrator.flows import events, http_step
from orchestrator.flows.definitions import BRANCH_CONDITION, Step
from orchestrator.flows.finishing import (
    LengthBudget,
    clean_draft,
    draft_issues,
    fit_to_budget,
    length_budget,
    max_tokens_for,
)
from orchestrator.models import FlowRun, FlowSecret
from prompts.defaults import json_repair_messages, post_document
from prompts.rendering import PromptRenderError
from prompts.selectors import PromptNotFoundError, ResolvedPrompt, resolve_prompt

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
    # Never served from the cache: a reviewer asked for changes (the fresh answer is still stored).
    fresh: bool = False

    @property
    def cache_read(self) -> bool:
        """Whether this run's calls may be answered from the cache: not when the run regenerates an
        earlier one (flow_start(regenerate=True)) or revises on a reviewer's request."""
        return not (self.fresh or self.run.inputs.get("regenerate"))

    def variables(self) -> dict[str, str]:
        """Everything a prompt of this run may use; each template takes the names it declares."""
        return {
            "author_name": self.author.name,
            "author_headline": self.author.headline,
            "audience": self.author.audience,
            "language": self.author.language,
            "style_card": style_card_text(self.profile),
            "samples": "\n---\n".join(self.profile.sample_posts) if self.profile else "",
            "memories": "\n".join(f"- {text}" for text in self.memory_texts()),
            "brief": self.run.brief,
        }

    def memory_texts(self) -> list[str]:
        """What the retrieve step found (also after a resume, from its stored output)."""
        for output in self.outputs.values():
            if isinstance(output, dict) and isinstance(output.get("memories"), list):
                return [str(item.get("text", "")) for item in output["memories"] if item.get("text")]
        return []

    def budget(self) -> LengthBudget | None:
        """The length the author's style card asks for (`formatting.length`), if it says."""
        return length_budget(self.profile.formatting) if self.profile else None

    def budget_text(self) -> str:
        budget = self.budget()
        return budget.source if budget else "none set"

    def draft_checks(self, text: str, *, instructions: str = "") -> list[str]:
        """The issues anyone can verify in `text` (finishing.draft_issues) for this author."""
        return draft_issues(
            text,
            budget=self.budget(),
            banned=list(self.profile.banned_phrases) if self.profile else [],
            language=self.author.language,
            instructions=instructions,
        )

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


@dataclass(frozen=True)
class CallShape:
    """What a step asks of the model beyond its prompt: structured output, stops, a length budget,
    repetition control, and the document a base model gets instead of the messages."""

    response_schema: dict | None = None
    schema_name: str = "answer"
    stop: list[str] | None = None
    frequency_penalty: float | None = None
    document: str | None = None
    max_tokens: int | None = None

    def parameters(self) -> dict:
        values = {
            "response_schema": self.response_schema,
            "schema_name": self.schema_name,
            "stop": self.stop,
            "frequency_penalty": self.frequency_penalty,
            "document": self.document,
            "max_tokens": self.max_tokens,
        }
        return {name: value for name, value in values.items() if value is not None}


def _call_id(ctx: RunContext, attempt: int, suffix: str = "") -> uuid.UUID:
    return uuid.uuid5(CALL_NAMESPACE, f"{ctx.run.tenant_id}:{ctx.run.pk}:{ctx.step_key}{suffix}:{attempt}")


def _paid_answer(ctx: RunContext, suffix: str) -> Trace | None:
    """An earlier attempt of this step whose call succeeded before the worker died."""
    ids = [_call_id(ctx, attempt, suffix) for attempt in range(1, ctx.attempt)]
    return Trace.objects.filter(pk__in=ids, status=TraceStatus.OK).first() if ids else None


def render_prompt(
    ctx: RunContext, *, prompt_purpose: str, extra: dict | None = None
) -> tuple[ResolvedPrompt, list[Message]]:
    """The library's prompt for `prompt_purpose`, rendered with the run's variables (a dry run shows it)."""
    try:
        resolved = resolve_prompt(purpose=prompt_purpose, ab_key=f"run-{ctx.run.pk}")
        declared = {v["name"] for v in resolved.version.variables}
        values = {**ctx.variables(), **(extra or {})}
        messages = resolved.render({k: v for k, v in values.items() if k in declared})
    except (PromptNotFoundError, PromptRenderError) as exc:
        raise StepFailedError(f"prompt {prompt_purpose!r}: {exc}") from exc
    return resolved, messages


def call_model(
    ctx: RunContext,
    *,
    purpose: str,
    prompt_purpose: str,
    extra: dict | None = None,
    stream_text: bool = False,
    suffix: str = "",
    cacheable: bool = True,
    shape: CallShape | None = None,
) -> dict:
    """One gateway call with a prompt of the library. The answer's "instructions" (the system
    messages) are for finishing the text and are not meant to be stored."""
    resolved, messages = render_prompt(ctx, prompt_purpose=prompt_purpose, extra=extra)
    prompt_info = {
        "prompt_version_id": resolved.version.pk,
        "variant": resolved.variant,
        "experiment_id": resolved.experiment_id,
    }
    answer = gateway_call(
        ctx,
        purpose=purpose,
        messages=messages,
        parameters={**resolved.model_parameters, **(shape.parameters() if shape else {})},
        stream_text=stream_text,
        suffix=suffix,
        cacheable=cacheable,
        prompt_version_id=resolved.version.pk,
    )
    instructions = "\n".join(m.content for m in messages if m.role == "system")
    return {**answer, **prompt_info, "instructions": instructions}


def gateway_call(
    ctx: RunContext,
    *,
    purpose: str,
    messages: list[Message],
    parameters: dict,
    stream_text: bool = False,
    suffix: str = "",
    cacheable: bool = True,
    prompt_version_id: int | None = None,
) -> dict:
    """The call itself, with an id derived from the run, the step and `suffix`: an answer an
    earlier attempt of the step already paid for is reused."""
    paid = _paid_answer(ctx, suffix)
    if paid is not None:
        ctx.call_ids.append(str(paid.pk))
        return {"text": paid.response, "call_id": str(paid.pk), "model": paid.model_alias, "reused": True}
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
        prompt_version_id=prompt_version_id,
        profile_version=ctx.profile.version if ctx.profile else None,
        cacheable=cacheable,
        cache_read=ctx.cache_read,
        **parameters,
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
        "finish_reason": response.finish_reason,
    }


def _delta_publisher(ctx: RunContext) -> Callable[[str, str], None]:
    run_id, step_key = ctx.run.pk, ctx.step_key

    def publish(kind: str, text: str) -> None:
        events.publish(run_id, kind, step=step_key, text=text)

    return publish


# ---- text: shaped for the model, finished to the style card ---------------------------------------

# Repetition control for free text: a mild frequency penalty (small models loop without one; the
# local server adds its own repeat penalty, see config/local_model.py).
TEXT_FREQUENCY_PENALTY = 0.3


def text_shape(ctx: RunContext) -> CallShape:
    """A post's call: the document for base models, its stop sequences, and max_tokens from the card."""
    document, stops = post_document(
        author_name=ctx.author.name,
        author_headline=ctx.author.headline,
        language=ctx.author.language,
        brief=ctx.run.brief,
        samples=list(ctx.profile.sample_posts) if ctx.profile else [],
        facts=ctx.memory_texts(),
    )
    budget = ctx.budget()
    return CallShape(
        stop=stops,
        frequency_penalty=TEXT_FREQUENCY_PENALTY,
        document=document,
        max_tokens=max_tokens_for(budget, ctx.author.language) if budget else None,
    )


def finish_text(ctx: RunContext, text: str, *, instructions: str = "") -> tuple[str, dict]:
    """The post as the queue should get it: leaks removed, whole sentences within the budget.
    Returns the text and a record of what was done (kept in the step's output)."""
    cleaned = clean_draft(text, instructions=instructions)
    fitted = fit_to_budget(cleaned.text, ctx.budget())
    record = {"removed": cleaned.removed, "trimmed": fitted.trimmed, "complete": fitted.complete}
    return fitted.text, record


def _finished_answer(ctx: RunContext, answer: dict, retry: Callable[[], dict]) -> dict:
    """Finish a model's post; an answer with nothing usable left is asked for once more (a fresh
    sample, never the cache); a second empty one is reported for attention."""
    instructions = answer.pop("instructions", "")
    raw = answer["text"]
    text, record = finish_text(ctx, raw, instructions=instructions)
    retried = False
    if not text.strip():
        answer = retry()
        instructions = answer.pop("instructions", "")
        raw, retried = answer["text"], True
        text, record = finish_text(ctx, raw, instructions=instructions)
    attention = []
    if not text.strip():
        attention.append("The model answered no usable text, twice; the draft is empty.")
    elif not record["complete"] and record["trimmed"]:  # even the first sentence is over the budget
        attention.append(
            "The draft could not be cut to whole sentences within the style card's length "
            f"({ctx.budget_text()}); it was cut mid-sentence."
        )
    output = {**answer, "text": text, "finishing": {**record, "retried": retried}}
    if raw.strip() != text:
        output["raw"] = raw[:8000]
    if attention:
        output["attention"] = attention
    return output


def generate(ctx: RunContext, step: Step) -> dict:
    purpose, prompt = step.get("purpose", "post"), step.get("prompt", "post")
    shape = text_shape(ctx)

    def ask(suffix: str = "", cacheable: bool = True) -> dict:
        return call_model(
            ctx,
            purpose=purpose,
            prompt_purpose=prompt,
            stream_text=True,
            suffix=suffix,
            cacheable=cacheable,
            shape=shape,
        )

    return _finished_answer(ctx, ask(), lambda: ask(".retry", cacheable=False))


def revise(ctx: RunContext, *, prompt: str, draft: str, notes: str) -> dict:
    """Rewrite `draft` to address `notes` (a critique, or an editor's request). A base model cannot
    follow notes: it gets the post's document and writes the post afresh."""
    shape = text_shape(ctx)

    def ask(suffix: str = "", cacheable: bool = True) -> dict:
        return call_model(
            ctx,
            purpose="revise",
            prompt_purpose=prompt,
            extra={"draft": draft, "critique": notes},
            stream_text=True,
            suffix=suffix,
            cacheable=cacheable,
            shape=shape,
        )

    return _finished_answer(ctx, ask(), lambda: ask(".retry", cacheable=False))


# ---- verdicts -----------------------------------------------------------------------------------

JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
# The critic's answer, constrained to this schema: it always parses, and its size is bounded so a
# length cut cannot break it (issues and suggestions are short; at most three of each).
VERDICT_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "passes": {"type": "boolean"},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "issues": {"type": "array", "items": {"type": "string", "maxLength": 160}, "maxItems": 3},
        "suggestions": {"type": "array", "items": {"type": "string", "maxLength": 160}, "maxItems": 3},
    },
    "required": ["passes", "score", "issues", "suggestions"],
    "additionalProperties": False,
}
VERDICT_MAX_TOKENS = 450  # the schema's largest answer (about 1,100 characters), with room for whitespace
UNUSABLE_VERDICT = "The critic's answer was not a usable verdict."


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
            "issues": [UNUSABLE_VERDICT],
            "suggestions": [],
            "raw": (text or "")[:2000],
        }
    score = data.get("score")
    return {
        "passes": data["passes"],
        "score": score if isinstance(score, int | float) and not isinstance(score, bool) else None,
        "issues": [str(i) for i in data.get("issues") or []][:20],
        "suggestions": [str(s) for s in data.get("suggestions") or []][:20],
    }


def with_checks(verdict: dict, checks: list[str]) -> dict:
    """The model's verdict joined with the checks anyone can verify: a failed check fails the draft
    whatever the model said, and its issue comes first."""
    joined = {**verdict, "checks": checks}
    if checks:
        joined["passes"] = False
        model_issues = [i for i in verdict.get("issues", []) if i != UNUSABLE_VERDICT]
        joined["issues"] = [*checks, *model_issues][:20]
    return joined


def critique_text(verdict: dict) -> str:
    lines = [f"- {issue}" for issue in verdict.get("issues", [])]
    lines += [f"- Suggestion: {s}" for s in verdict.get("suggestions", [])]
    return "\n".join(lines) or "- Tighten it."


def _repair_verdict(ctx: RunContext, *, broken: str, draft: str, suffix: str) -> dict:
    """Second chance for an unusable verdict: the broken answer restated as JSON, constrained."""
    messages = [
        Message(m["role"], m["content"])
        for m in json_repair_messages(
            task="judge a LinkedIn draft: does it pass, a score 0-10, its issues and suggested edits",
            answer=broken or "(no answer)",
            material=draft,
            schema_text=json.dumps(VERDICT_SCHEMA),
        )
    ]
    return gateway_call(
        ctx,
        purpose="critique",
        messages=messages,
        parameters={
            "temperature": 0.0,
            "max_tokens": VERDICT_MAX_TOKENS,
            "response_schema": VERDICT_SCHEMA,
            "schema_name": "verdict",
        },
        suffix=f"{suffix}.repair",
        cacheable=False,
    )


def critique(ctx: RunContext, step: Step, *, draft: str | None = None, suffix: str = "") -> dict:
    """A verdict on the draft: the critic's answer (constrained to VERDICT_SCHEMA; one repair call
    if it still does not parse) joined with the checks. No usable verdict -> "attention"."""
    draft = draft if draft is not None else ctx.text_of(step.get("target"))
    shape = CallShape(response_schema=VERDICT_SCHEMA, schema_name="verdict", max_tokens=VERDICT_MAX_TOKENS)
    answer = call_model(
        ctx,
        purpose="critique",
        prompt_purpose=step.get("prompt", "critique"),
        extra={"draft": draft},
        suffix=suffix,
        shape=shape,
    )
    instructions = answer.pop("instructions", "")
    verdict = parse_verdict(answer["text"])
    output: dict = {**answer}
    if verdict["passes"] is None:
        repaired = _repair_verdict(ctx, broken=answer["text"], draft=draft, suffix=suffix)
        output["repair"] = {"call_id": repaired["call_id"], "text": repaired["text"][:2000]}
        verdict = parse_verdict(repaired["text"])
    if verdict["passes"] is None:
        output["attention"] = [
            f"{UNUSABLE_VERDICT} It stayed unusable after a repair call, so the draft was not reviewed "
            f"by a model (the critic said: {_excerpt(answer['text'])})."
        ]
    checks = ctx.draft_checks(draft, instructions=instructions)
    return {**output, "verdict": with_checks(verdict, checks), "text": draft}


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return f"“{text[:limit]}…”" if len(text) > limit else f"“{text}”" if text else "nothing"


# ---- handlers -----------------------------------------------------------------------------------


def retrieve(ctx: RunContext, step: Step) -> dict:
    found = retrieve_memories(author=ctx.author, query=ctx.run.brief, limit=step.get("limit", 8))
    items = [
        {"id": m.memory.pk, "kind": m.memory.kind, "text": m.memory.text, "score": round(m.score, 4)}
        for m in found
    ]
    # Plain statements: a label such as "(key_phrase)" is for people, and small models copy it.
    text = "\n".join(f"- {item['text']}" for item in items)
    ctx.outputs["__memories_text"] = {"text": text}
    return {"memories": items, "text": text}


def transform(ctx: RunContext, step: Step) -> dict:
    text = ctx.text_of(step.get("target") or ctx.last_text_step)
    banned = ctx.profile.banned_phrases if ctx.profile else []
    for op in step.get("ops", []):
        text = finish_text(ctx, text)[0] if op == "finish" else TRANSFORMS[op](text, banned)
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
    match = BRANCH_CONDITION.fullmatch(condition)
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

    shape = text_shape(ctx)

    def one(index: int) -> dict:
        try:
            # Variants of one request must differ: never served from the cache.
            def ask(suffix: str) -> dict:
                return call_model(
                    ctx, purpose=purpose, prompt_purpose=prompt, suffix=suffix, cacheable=False, shape=shape
                )

            answer = _finished_answer(ctx, ask(f".v{index}"), lambda: ask(f".v{index}.retry"))
            rank_step = Step("rank", "critique", {"prompt": step.get("rank_prompt", "critique")})
            ranked = critique(ctx, rank_step, draft=answer["text"], suffix=f".rank{index}")
            verdict = ranked["verdict"]
            attention = [f"variant {index}: {reason}" for reason in answer.get("attention", [])]
            attention += [f"variant {index}: {reason}" for reason in ranked.get("attention", [])]
            return {
                "text": answer["text"],
                "score": verdict.get("score"),
                "passes": verdict.get("passes"),
                "attention": attention,
            }
        finally:
            connections.close_all()  # this thread's own database connection

    # Model calls are I/O on the shared gateway loop: these threads only wait for them. Each gets a
    # copy of the context so the tenant scope comes along.
    with ThreadPoolExecutor(max_workers=variants) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, i) for i in range(1, variants + 1)]
        results = [future.result() for future in futures]
    best = max(
        range(variants),
        key=lambda i: (bool(results[i]["text"]), results[i]["passes"] is True, results[i]["score"] or 0),
    )
    output: dict = {"text": results[best]["text"], "variants": results, "chosen": best}
    if not results[best]["text"]:  # a variant's own trouble matters only when it is the one kept
        output["attention"] = results[best]["attention"]
    return output


def http_payload(ctx: RunContext, step: Step) -> dict:
    """What an HTTP step posts: the run, the author, the brief and the text it targets."""
    return {
        "run": ctx.run.pk,
        "author": ctx.author.name,
        "brief": ctx.run.brief,
        "text": ctx.text_of(step.get("target") or ctx.last_text_step),
    }


def step_secret(step: Step) -> FlowSecret | None:
    """The tenant's secret the step names (None when it names none)."""
    name = step.get("secret")
    if not name:
        return None
    secret = FlowSecret.objects.filter(name=name).first()
    if secret is None:
        raise StepFailedError(f"the secret {name!r} is not set: set it on the flows page, then retry")
    return secret


def _secret_value(step: Step) -> str:
    stored = step_secret(step)
    if stored is None:
        return ""
    try:
        return stored.value()
    except CredentialError as exc:  # the encryption keys changed: set the secret again
        raise StepFailedError(f"the secret {stored.name!r} cannot be decrypted: set it again") from exc


def http_call(ctx: RunContext, step: Step) -> dict:
    url = step.get("url")
    check_outbound_url(url)
    secret = _secret_value(step)
    payload = http_payload(ctx, step)
    delay = 0.5
    for attempt in range(1, 4):
        # Built afresh per attempt: the signature's timestamp is the time of sending.
        request = http_step.build_request(
            url=url,
            payload=payload,
            headers=step.get("headers", {}),
            secret=secret,
            sign_body=bool(step.get("sign")),
        )
        try:
            # Connects only to the address the guard checked (no DNS-rebinding window); no redirects.
            with net.guarded_client(timeout=step.get("timeout", 10)) as client:
                response = client.post(url, content=request.body, headers=request.headers)
        except net.OutboundURLRefusedError as exc:
            raise StepFailedError(str(exc)) from exc
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        else:
            if response.status_code < 500 and response.status_code != 429:
                # The receiver's answer is stored: never with the secret in it, should it echo one.
                return http_step.scrub(_http_step_output(response), secret)  # type: ignore[return-value]  # a dict stays a dict
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
