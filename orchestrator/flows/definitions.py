"""Flow definitions: what steps exist, how a definition is validated, and the ones Maestro ships.

A definition is a JSON list of steps; each has an `id` (unique in the flow) and a `type`:

    retrieve   memories of the author relevant to the brief           {limit}
    generate   a draft from a prompt template                          {prompt, purpose}
    critique   a structured verdict against the author's style card    {prompt, target}
    revise     critique, then revise until the verdict passes           {prompt, critique_prompt, target,
                                                                        max_rounds}
    transform  deterministic clean-up of the text                      {target, ops}
               (op "finish": no prompt leaks, whole sentences within the card's length)
    http       POST the flow's context to an outside endpoint          {url, timeout, target?}
    branch     skip to another step when a condition holds              {if, goto}
    fanout     N variants of a generate step in parallel, best kept    {variants, prompt, purpose,
                                                                        rank_prompt}

The last text-producing step's text goes to the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

STEP_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "retrieve": {"limit": int},
    "generate": {"prompt": str, "purpose": str},
    "critique": {"prompt": str, "target": str},
    "revise": {"prompt": str, "critique_prompt": str, "target": str, "max_rounds": int},
    "transform": {"target": str, "ops": list},
    "http": {"url": str, "timeout": (int, float), "target": str},
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
MAX_ROUNDS = 5
MAX_VARIANTS = 5

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
    """Validate a definition; every problem is reported with the step it belongs to."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("A flow is a non-empty list of steps.")
    errors: list[str] = []
    steps: list[Step] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        step, problems = _parse_step(index, item, seen)
        errors += problems
        if step:
            seen.add(step.id)
            steps.append(step)
    ids = {s.id for s in steps}
    for step in steps:
        for ref in ("target", "goto"):
            if step.get(ref) and step.get(ref) not in ids:
                errors.append(f"step {step.id}: {ref} {step.get(ref)!r} is not a step of this flow")
    if errors:
        raise ValidationError(errors)
    return steps


def _parse_step(index: int, item: object, seen: set[str]) -> tuple[Step | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"step {index}: must be an object"]
    step_id, step_type = item.get("id"), item.get("type")
    where = f"step {index} ({step_id or 'no id'})"
    if not isinstance(step_id, str) or not step_id.isidentifier():
        return None, [f"{where}: id must be a short identifier"]
    if step_id in seen:
        return None, [f"{where}: id is used twice"]
    if step_type not in STEP_FIELDS:
        return None, [f"{where}: unknown type {step_type!r}; known: {', '.join(sorted(STEP_FIELDS))}"]
    options = {k: v for k, v in item.items() if k not in ("id", "type")}
    problems = _check_options(where, step_type, options)
    return Step(id=step_id, type=step_type, options=options), problems


def _check_options(where: str, step_type: str, options: dict) -> list[str]:
    fields = STEP_FIELDS[step_type]
    problems = [f"{where}: unknown option {name!r}" for name in options if name not in fields]
    problems += [
        f"{where}: {name} has the wrong type"
        for name, value in options.items()
        if name in fields and not isinstance(value, fields[name])
    ]
    problems += [
        f"{where}: {name} is required" for name in REQUIRED.get(step_type, ()) if name not in options
    ]
    if step_type == "revise" and not 0 <= options.get("max_rounds", 2) <= MAX_ROUNDS:
        problems.append(f"{where}: max_rounds must be between 0 and {MAX_ROUNDS}")
    if step_type == "fanout" and not 2 <= options.get("variants", 3) <= MAX_VARIANTS:
        problems.append(f"{where}: variants must be between 2 and {MAX_VARIANTS}")
    if step_type == "transform":
        unknown = set(options.get("ops", [])) - TRANSFORM_OPS
        if unknown:
            problems.append(f"{where}: unknown ops {sorted(unknown)}; known: {sorted(TRANSFORM_OPS)}")
    return problems
