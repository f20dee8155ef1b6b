"""A dry run: what a flow version would do for an author and a brief, without doing it.

The gateway has no offline mode, so no model is called at all: each model step renders its prompt
from the library exactly as a run would (the author's style card, memories and brief filled in), and
asks the router which model it would choose for it, from the tenant's catalog as if every model were
healthy (circuit breakers, budget headroom and the learned router are not consulted). The text a model
would write is a placeholder that later steps receive. Memories are retrieved for real (a read);
transforms run on the placeholders; an HTTP step shows the request it would send, with its secret
masked and its signature described, and sends nothing.

Nothing is written: no run, step, draft or trace, no budget reservation, no event, no outside request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError

from authors.models import Author
from authors.selectors import current_style_profile
from common import net
from gateway.catalog import load_catalog
from gateway.providers.base import Message
from gateway.routing import Candidate, NoRouteError, RoutePolicy, RouteRequest, route
from gateway.runtime import GatewayConfig
from gateway.tokens import estimate_prompt_tokens
from orchestrator.flows import http_step, steps
from orchestrator.flows.definitions import Step, parse_steps
from orchestrator.flows.steps import CallShape, RunContext, StepFailedError
from orchestrator.models import FlowDefinition, FlowRun, FlowSecret
from tenants.context import require_tenant

NOTE = (
    "Dry run: no model was called and nothing was spent, queued or sent. Prompts are rendered as a run "
    "would render them; the model is the router's choice for a healthy catalog; model text is a "
    "placeholder."
)
TEXT_TYPES = {"generate", "revise", "transform", "fanout", "http"}


def placeholder(step_id: str) -> str:
    return f"[dry run: the text step {step_id!r} would write]"


@dataclass
class CallPreview:
    purpose: str
    prompt: str  # "post v3"
    messages: list[dict]
    times: int  # how often the step may make this call at most
    model: str = ""
    tier: str = ""
    chain: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    estimated_prompt_tokens: int = 0
    max_output_tokens: int = 0
    max_cost_micros: int = 0  # one call, at most: the chosen model's prices, the prompt and max output


@dataclass
class StepPreview:
    id: str
    type: str
    summary: str
    calls: list[CallPreview] = field(default_factory=list)
    request: dict | None = None  # an HTTP step's request, secret masked
    output: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class DryRun:
    flow: str
    version: int
    author: str
    brief: str
    steps: list[StepPreview]
    note: str = NOTE

    @property
    def problems(self) -> list[str]:
        return [f"{step.id}: {problem}" for step in self.steps for problem in step.problems]

    @property
    def max_calls(self) -> int:
        return sum(call.times for step in self.steps for call in step.calls)

    @property
    def max_cost_micros(self) -> int:
        return sum(call.times * call.max_cost_micros for step in self.steps for call in step.calls)

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "problems": self.problems,
            "max_calls": self.max_calls,
            "max_cost_micros": self.max_cost_micros,
        }


def flow_dry_run(*, definition: FlowDefinition, author: Author, brief: str) -> DryRun:
    """Preview every step of `definition` in order (a branch is described, not taken)."""
    brief = (brief or "").strip()
    if not brief:
        raise ValidationError({"brief": "Say what the post is about."})
    run = FlowRun(  # never saved: it only carries what the steps read
        tenant=require_tenant(), definition=definition, steps=definition.steps, author=author, brief=brief
    )
    ctx = RunContext(run=run, author=author, profile=current_style_profile(author=author))
    previews = []
    for step in parse_steps(definition.steps):
        try:
            preview = PREVIEWS[step.type](ctx, step)
        except StepFailedError as exc:  # the run would fail here: say so, and go on with a placeholder
            preview = StepPreview(step.id, step.type, "This step would fail.", problems=[str(exc)])
            preview.output = {"text": placeholder(step.id)}
        previews.append(preview)
        ctx.outputs[step.id] = preview.output
        if step.type in TEXT_TYPES and "text" in preview.output:
            ctx.last_text_step = step.id
    return DryRun(definition.name, definition.version, author.name, brief, previews)


# ---- model calls --------------------------------------------------------------------------------


def _call(
    ctx: RunContext,
    *,
    purpose: str,
    prompt: str,
    extra: dict | None = None,
    shape: CallShape | None = None,
    times: int = 1,
) -> CallPreview:
    resolved, messages = steps.render_prompt(ctx, prompt_purpose=prompt, extra=extra)
    parameters = {**resolved.model_parameters, **(shape.parameters() if shape else {})}
    preview = CallPreview(
        purpose=purpose,
        prompt=f"{prompt} v{resolved.version.number}"
        + (f" ({resolved.variant})" if resolved.variant else ""),
        messages=[{"role": m.role, "content": m.content} for m in messages],
        times=times,
    )
    _route_into(preview, ctx, messages=messages, parameters=parameters)
    return preview


def _route_into(preview: CallPreview, ctx: RunContext, *, messages: list[Message], parameters: dict) -> None:
    """The router's choice for this call from the tenant's catalog, every model taken as healthy."""
    catalog = load_catalog(ctx.run.tenant)
    candidates = [
        Candidate(
            model_id=m.id,
            alias=m.alias,
            provider_id=m.provider_id,
            provider_name=m.provider_name,
            tier=m.tier,
            input_price_per_mtok=m.input_price_per_mtok,
            output_price_per_mtok=m.output_price_per_mtok,
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
        )
        for m in catalog.models
    ]
    policy = RoutePolicy(
        allowed_aliases=catalog.policy.allowed_aliases,
        preference=catalog.policy.preference,
        default_tiers=catalog.policy.default_tiers,
        chains=catalog.policy.fallback_chains,
    )
    preview.estimated_prompt_tokens = estimate_prompt_tokens(messages)
    request = RouteRequest(
        purpose=preview.purpose,
        prompt_tokens=preview.estimated_prompt_tokens,
        requested=parameters.get("model"),
        text=" ".join(m.content for m in messages if m.role == "user")[-4000:],
    )
    try:
        decision = route(request, candidates, policy)
    except NoRouteError as exc:
        raise StepFailedError(f"no model would take this call: {exc}") from exc
    chosen = catalog.model(decision.chain[0].alias)
    max_tokens = parameters.get("max_tokens") or GatewayConfig.from_settings().default_max_tokens
    preview.model, preview.tier = decision.chain[0].alias, decision.tier
    preview.chain, preview.reasons = [c.alias for c in decision.chain], decision.reasons
    if chosen is not None:
        preview.max_output_tokens = min(max_tokens, chosen.max_output_tokens)
        preview.max_cost_micros = chosen.cost_micros(
            preview.estimated_prompt_tokens, preview.max_output_tokens
        )


def _critique_call(ctx: RunContext, prompt: str, draft: str, *, times: int = 1) -> CallPreview:
    shape = CallShape(
        response_schema=steps.VERDICT_SCHEMA, schema_name="verdict", max_tokens=steps.VERDICT_MAX_TOKENS
    )
    return _call(ctx, purpose="critique", prompt=prompt, extra={"draft": draft}, shape=shape, times=times)


# ---- one preview per step type --------------------------------------------------------------------


def _retrieve(ctx: RunContext, step: Step) -> StepPreview:
    output = steps.retrieve(ctx, step)  # a read: the memories a run would find now
    found = len(output["memories"])
    return StepPreview(
        step.id, step.type, f"Finds {found} memor{'y' if found == 1 else 'ies'}.", output=output
    )


def _generate(ctx: RunContext, step: Step) -> StepPreview:
    call = _call(
        ctx,
        purpose=step.get("purpose", "post"),
        prompt=step.get("prompt", "post"),
        shape=steps.text_shape(ctx),
    )
    return StepPreview(
        step.id,
        step.type,
        f"Writes a draft with {call.model} ({call.tier}).",
        calls=[call],
        output={"text": placeholder(step.id)},
    )


def _critique(ctx: RunContext, step: Step) -> StepPreview:
    draft = ctx.text_of(step.get("target"))
    call = _critique_call(ctx, step.get("prompt", "critique"), draft)
    return StepPreview(
        step.id,
        step.type,
        f"Judges {step.get('target')!r} with {call.model}.",
        calls=[call],
        output={"text": draft},
    )


def _revise(ctx: RunContext, step: Step) -> StepPreview:
    rounds = step.get("max_rounds", 2)
    draft = ctx.text_of(step.get("target"))
    critique = _critique_call(ctx, step.get("critique_prompt", "critique"), draft, times=rounds + 1)
    calls = [critique]
    if rounds:
        notes = "- [dry run: the critique's issues and suggestions]"
        calls.append(
            _call(
                ctx,
                purpose="revise",
                prompt=step.get("prompt", "revise"),
                extra={"draft": draft, "critique": notes},
                shape=steps.text_shape(ctx),
                times=rounds,
            )
        )
    summary = (
        f"Critiques {step.get('target')!r}, then revises and critiques again while it fails "
        f"(at most {rounds} rounds)."
    )
    return StepPreview(step.id, step.type, summary, calls=calls, output={"text": placeholder(step.id)})


def _fanout(ctx: RunContext, step: Step) -> StepPreview:
    variants = step.get("variants", 3)
    write = _call(
        ctx,
        purpose=step.get("purpose", "post"),
        prompt=step.get("prompt", "post"),
        shape=steps.text_shape(ctx),
        times=variants,
    )
    rank = _critique_call(ctx, step.get("rank_prompt", "critique"), placeholder(step.id), times=variants)
    summary = f"Writes {variants} variants in parallel with {write.model}, ranks each, keeps the best."
    return StepPreview(
        step.id, step.type, summary, calls=[write, rank], output={"text": placeholder(step.id)}
    )


def _transform(ctx: RunContext, step: Step) -> StepPreview:
    output = steps.transform(ctx, step)  # deterministic and free
    return StepPreview(
        step.id, step.type, f"Applies {', '.join(step.get('ops', [])) or 'no ops'}.", output=output
    )


def _branch(ctx: RunContext, step: Step) -> StepPreview:
    summary = (
        f"When {step.get('if')} holds, skips ahead to {step.get('goto')!r}. A dry run has no verdict: "
        "it goes on in order, so every step is shown."
    )
    return StepPreview(step.id, step.type, summary, output={"taken": False, "goto": step.get("goto")})


def _http(ctx: RunContext, step: Step) -> StepPreview:
    problems = []
    url = step.get("url")
    try:
        net.check_outbound_url(url)
    except net.OutboundURLRefusedError as exc:
        problems.append(f"the URL would be refused: {exc}")
    label = ""
    if step.get("secret"):
        stored = FlowSecret.objects.filter(name=step.get("secret")).first()
        if stored is None:
            problems.append(f"the secret {step.get('secret')!r} is not set")
        label = f"[secret {step.get('secret')}: {stored.mask if stored else 'not set'}]"
    request = http_step.preview_request(
        url=url,
        payload=steps.http_payload(ctx, step),
        headers=step.get("headers", {}),
        secret_label=label,
        sign_body=bool(step.get("sign")),
    )
    summary = (
        f"Would POST the draft to {url}" + (" (signed)" if step.get("sign") else "") + "; sends nothing."
    )
    return StepPreview(step.id, step.type, summary, request=request, problems=problems)


PREVIEWS = {
    "retrieve": _retrieve,
    "generate": _generate,
    "critique": _critique,
    "revise": _revise,
    "fanout": _fanout,
    "transform": _transform,
    "branch": _branch,
    "http": _http,
}
