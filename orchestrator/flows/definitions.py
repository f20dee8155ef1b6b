"""Flow definitions: what steps exist, how a definition is validated, and the ones Maestro ships.

A definition is a JSON list of steps; each has an `id` (unique in the flow) and a `type`:

    retrieve   memories of the author relevant to the brief           {limit}
    generate   a draft from a prompt template                          {prompt, purpose}
    critique   a structured verdict against the author's style card    {prompt, target}
    revise     critique, then revise until the verdict passes           {prompt, critique_prompt, target,
                                                                        max_rounds}
    transform  deterministic clean-up of the text                      {target, ops}
               (op "finish": no prompt leaks, whole sentences within the card's length)
    http       POST the flow's context to an outside endpoint          {url, timeout?, target?, headers?,
               (headers may use "{secret}"; `sign` adds                 secret?, sign?}
               X-Maestro-Signature, see flows/http_step.py)
    branch     skip forward to a later step when a condition holds      {if, goto}
    fanout     N variants of a generate step in parallel, best kept    {variants, prompt, purpose,
                                                                        rank_prompt}

The last text-producing step's text goes to the review queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from prompts.models import Purpose

SIGNATURE_HEADER = "X-Maestro-Signature"

STEP_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "retrieve": {"limit": int},
    "generate": {"prompt": str, "purpose": str},
    "critique": {"prompt": str, "target": str},
    "revise": {"prompt": str, "critique_prompt": str, "target": str, "max_rounds": int},
    "transform": {"target": str, "ops": list},
    "http": {
        "url": str,
        "timeout": (int, float),
        "target": str,
        "headers": dict,
        "secret": str,
        "sign": bool,
    },
    "branch": {"if": str, "goto": str},
    "fanout": {"variants": int, "prompt": str, "purpose": str, "rank_prompt": str},
}
REQUIRED = {"branch": {"if", "goto"}, "http": {"url"}}
# "finish": leaks removed and whole sentences within the style card's length (flows/finishing.py).
TRANSFORM_OPS = {
    "trim",
    "collapse_blank_lines",
    "strip_markdown",
    "max_hashtags_3",
    "remove_banned_phrases",
    "finish",
}
MAX_STEPS = 30
MAX_ROUNDS = 5
MAX_VARIANTS = 5
MAX_RETRIEVE = 50
MAX_HTTP_TIMEOUT = 30
MAX_HEADERS = 20
# Options naming a prompt of the library (by its purpose) and the gateway purpose of a call.
PROMPT_OPTIONS = ("prompt", "critique_prompt", "rank_prompt")
GATEWAY_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,39}")
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?")
# `<step>.passes`, `<step>.failed`, or `<step>.score<N` / `>=N` on a critique or revise verdict.
BRANCH_CONDITION = re.compile(r"(\w+)\.(passes|failed|score)(?:(<|>=)(\d+(?:\.\d+)?))?")
VERDICT_STEPS = {"critique", "revise"}
# Steps whose output is a text another step can take as its `target`.
TEXT_OUTPUT_STEPS = {"retrieve", "generate", "critique", "revise", "transform", "http", "fanout"}

DEFAULT_POST_FLOW = [
    {"id": "memories", "type": "retrieve", "limit": 8},
    {"id": "draft", "type": "generate", "prompt": "post", "purpose": "post"},
    {
        "id": "review",
        "type": "revise",
        "prompt": "revise",
        "critique_prompt": "critique",
        "target": "draft",
        "max_rounds": 2,
    },
    {
        "id": "polish",
        "type": "transform",
        "target": "review",
        "ops": ["trim", "collapse_blank_lines", "remove_banned_phrases", "max_hashtags_3", "finish"],
    },
]
DEFAULT_VARIANTS_FLOW = [
    {"id": "memories", "type": "retrieve", "limit": 8},
    {
        "id": "variants",
        "type": "fanout",
        "variants": 3,
        "prompt": "post",
        "purpose": "post",
        "rank_prompt": "critique",
    },
    {
        "id": "review",
        "type": "revise",
        "prompt": "revise",
        "critique_prompt": "critique",
        "target": "variants",
        "max_rounds": 1,
    },
    {
        "id": "polish",
        "type": "transform",
        "target": "review",
        "ops": ["trim", "collapse_blank_lines", "finish"],
    },
]
DEFAULT_FLOWS = {
    "post": ("Post: memories, draft, critique and revise, polish", DEFAULT_POST_FLOW),
    "post-variants": ("Three variants in parallel, best one critiqued and revised", DEFAULT_VARIANTS_FLOW),
}


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    options: dict

    def get(self, name: str, default=None):
        return self.options.get(name, default)


def parse_steps(raw: object) -> list[Step]:
    """Validate a definition; every problem is reported with the step (index and id) and the option it
    belongs to. Loops are bounded: a branch jumps forward only, revise rounds and variants are capped."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("A flow is a non-empty list of steps.")
    if len(raw) > MAX_STEPS:
        raise ValidationError(f"A flow has at most {MAX_STEPS} steps; this one has {len(raw)}.")
    errors: list[str] = []
    steps: list[Step] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        step, problems = _parse_step(index, item, seen)
        errors += problems
        if step:
            seen.add(step.id)
            steps.append(step)
    if not errors:
        errors += _check_references(steps)
    if errors:
        raise ValidationError(errors)
    return steps


def _where(index: int, step_id: object) -> str:
    return f"step {index} ({step_id if isinstance(step_id, str) and step_id else 'no id'})"


def _parse_step(index: int, item: object, seen: set[str]) -> tuple[Step | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"step {index}: must be an object with an id and a type"]
    step_id, step_type = item.get("id"), item.get("type")
    where = _where(index, step_id)
    if not isinstance(step_id, str) or not step_id.isidentifier() or len(step_id) > 40:
        return None, [f"{where}: id must be a short identifier (letters, digits, _)"]
    if step_id in seen:
        return None, [f"{where}: id is used twice"]
    if step_type not in STEP_FIELDS:
        return None, [f"{where}: type: unknown type {step_type!r}; known: {', '.join(sorted(STEP_FIELDS))}"]
    options = {k: v for k, v in item.items() if k not in ("id", "type")}
    problems = _check_options(where, step_type, options)
    return Step(id=step_id, type=step_type, options=options), problems


def _has_type(value: object, kind: type | tuple[type, ...]) -> bool:
    # bool is an int to isinstance: `"limit": true` is not a number.
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, kind)


def _check_options(where: str, step_type: str, options: dict) -> list[str]:
    fields = STEP_FIELDS[step_type]
    problems = [
        f"{where}: {name}: unknown option; {step_type} takes {', '.join(sorted(fields)) or 'none'}"
        for name in options
        if name not in fields
    ]
    problems += [
        f"{where}: {name}: must be {_type_name(fields[name])}"
        for name, value in options.items()
        if name in fields and not _has_type(value, fields[name])
    ]
    problems += [
        f"{where}: {name}: is required" for name in sorted(REQUIRED.get(step_type, ())) if name not in options
    ]
    if problems:  # the checks below read the values as their types
        return problems
    return _check_values(where, step_type, options)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", str: "text", list: "a list", dict: "an object",
             bool: "true or false"}  # fmt: skip
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "a number" if float in kinds else " or ".join(names[k] for k in kinds)


def _between(where: str, name: str, value: float, low: float, high: float) -> list[str]:
    return [] if low <= value <= high else [f"{where}: {name}: must be between {low} and {high}"]


def _check_values(where: str, step_type: str, options: dict) -> list[str]:  # noqa: C901 - one check per option
    problems: list[str] = []
    for name in PROMPT_OPTIONS:
        if name in options and options[name] not in Purpose.values:
            problems.append(
                f"{where}: {name}: {options[name]!r} is not a prompt of the library; "
                f"known: {', '.join(Purpose.values)}"
            )
    if "purpose" in options and not GATEWAY_PURPOSE.fullmatch(options["purpose"]):
        problems.append(f"{where}: purpose: a short lowercase word such as 'post'")
    if step_type == "retrieve" and "limit" in options:
        problems += _between(where, "limit", options["limit"], 1, MAX_RETRIEVE)
    if step_type == "revise":
        problems += _between(where, "max_rounds", options.get("max_rounds", 2), 0, MAX_ROUNDS)
    if step_type == "fanout":
        problems += _between(where, "variants", options.get("variants", 3), 2, MAX_VARIANTS)
    if step_type == "transform":
        ops = options.get("ops", [])
        unknown = sorted({str(op) for op in ops} - TRANSFORM_OPS)
        if not all(isinstance(op, str) for op in ops) or unknown:
            problems.append(f"{where}: ops: unknown ops {unknown}; known: {sorted(TRANSFORM_OPS)}")
    if step_type == "branch" and not BRANCH_CONDITION.fullmatch(options["if"]):
        problems.append(
            f"{where}: if: {options['if']!r} is not a condition; write <step>.passes, <step>.failed, "
            "<step>.score<N or <step>.score>=N"
        )
    if step_type == "http":
        problems += _check_http(where, options)
    return problems


def _check_http(where: str, options: dict) -> list[str]:
    problems: list[str] = []
    url = options["url"]
    if len(url) > 500 or not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        problems.append(f"{where}: url: give an http(s) URL (at most 500 characters)")
    if "timeout" in options:
        problems += _between(where, "timeout", options["timeout"], 1, MAX_HTTP_TIMEOUT)
    if "secret" in options and not SLUG.fullmatch(options["secret"]):
        problems.append(f"{where}: secret: the name of a secret (lowercase letters, digits and -)")
    if options.get("sign") and "secret" not in options:
        problems.append(f"{where}: sign: signing needs a secret: name one in `secret`")
    headers = options.get("headers", {})
    if len(headers) > MAX_HEADERS:
        problems.append(f"{where}: headers: at most {MAX_HEADERS}")
    for name, value in headers.items():
        problem = header_problem(name, value, has_secret="secret" in options)
        if problem:
            problems.append(f"{where}: headers: {name!r} {problem}")
    return problems


# Header names a step may not set: the connection's own (httpx sets them from the body and the URL),
# the body's type (always JSON) and the signature Maestro computes.
RESERVED_HEADERS = {
    "host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive", "te",
    "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection", SIGNATURE_HEADER.lower(),
}  # fmt: skip
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
SECRET_PLACEHOLDER = "{secret}"  # noqa: S105 - the placeholder, not a secret


def header_problem(name: str, value: object, *, has_secret: bool) -> str:
    """Why a header cannot be sent as given, or ""."""
    if not HEADER_NAME.fullmatch(name):
        return "is not a header name (letters, digits and - only)"
    if name.lower() in RESERVED_HEADERS:
        return "is set by Maestro and cannot be overridden"
    if not isinstance(value, str):
        return "must have a text value"
    if len(value) > 2000 or any(ch in value for ch in "\r\n\x00"):
        return "has a value that is too long or spans lines"
    if SECRET_PLACEHOLDER in value and not has_secret:
        return f"uses {SECRET_PLACEHOLDER} but the step names no secret"
    return ""


def _check_references(steps: list[Step]) -> list[str]:
    """Targets name an earlier step with text; a branch reads an earlier verdict and jumps forward."""
    position = {step.id: i for i, step in enumerate(steps)}
    problems: list[str] = []
    for i, step in enumerate(steps):
        where = _where(i + 1, step.id)
        target = step.get("target")
        if target is not None:
            if target not in position:
                problems.append(f"{where}: target: {target!r} is not a step of this flow")
            elif position[target] >= i:
                problems.append(f"{where}: target: {target!r} must be an earlier step")
            elif steps[position[target]].type not in TEXT_OUTPUT_STEPS:
                problems.append(f"{where}: target: {target!r} writes no text")
        if step.type == "branch":
            problems += _check_branch(where, i, step, steps, position)
    return problems


def _check_branch(where: str, i: int, step: Step, steps: list[Step], position: dict[str, int]) -> list[str]:
    problems: list[str] = []
    match = BRANCH_CONDITION.fullmatch(step.get("if"))
    source = match.group(1) if match else ""
    if source not in position or position[source] >= i:
        problems.append(f"{where}: if: {source!r} must be an earlier step")
    elif steps[position[source]].type not in VERDICT_STEPS:
        problems.append(f"{where}: if: {source!r} gives no verdict (only critique and revise steps do)")
    goto = step.get("goto")
    if goto not in position:
        problems.append(f"{where}: goto: {goto!r} is not a step of this flow")
    elif position[goto] <= i:
        problems.append(f"{where}: goto: {goto!r} must be a later step (a flow never loops back)")
    return problems
