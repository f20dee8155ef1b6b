"""A deliberately tiny template syntax for tenant-written prompts; never Django's or Jinja's engine.

Syntax (nothing else is interpreted):
    {{ name }}                  the value of a declared variable, inserted verbatim
    {{#if name}} ... {{/if}}    the text in between only when `name` has a non-empty value (no nesting)

Names are plain identifiers: no attribute access, no filters, no code. Values are data: they are
inserted as they are and never scanned for placeholders again. Lists render one "- item" per line,
dicts as indented JSON. A `{{` not closed by `}}` on the same line is ordinary text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.providers.base import Message

if TYPE_CHECKING:
    from prompts.models import PromptVersion

ROLES = ("system", "user", "assistant")
TAG = re.compile(r"\{\{([^{}\n]*)\}\}")
NAME = re.compile(r"[a-z_][a-z0-9_]{0,59}")
SECTION_OPEN = re.compile(r"#if\s+(\S+)")
SECTION_CLOSE = "/if"


class PromptSyntaxError(ValueError):
    """A version's text or variable declarations are invalid; raised when saving it."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class PromptRenderError(ValueError):
    """Rendering was asked with missing, unknown or undeclared variables: never a silent blank."""

    def __init__(
        self, *, prompt: str, missing=(), unknown=(), undeclared=(), invalid=(), detail: str = ""
    ) -> None:
        self.prompt = prompt
        self.missing = sorted(missing)
        self.unknown = sorted(unknown)
        self.undeclared = sorted(undeclared)
        self.invalid = sorted(invalid)
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("missing required variable(s)", self.missing),
                ("unknown variable(s) passed", self.unknown),
                ("variable(s) used in the text but not declared", self.undeclared),
                ("variable(s) with a value that is not text, a number, a list or a dict", self.invalid),
            )
            if names
        ]
        if detail:
            parts.append(detail)
        super().__init__(f"Prompt {prompt}: " + "; ".join(parts))


# --- Parsing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Placeholder:
    name: str


@dataclass(frozen=True)
class Section:
    name: str
    body: tuple[Text | Placeholder, ...]


Node = Text | Placeholder | Section


class _Parser:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.problems: list[str] = []
        self.section: tuple[str, list] | None = None  # (name, body) of the open {{#if}}

    def _target(self) -> list:
        return self.section[1] if self.section else self.nodes

    def text(self, text: str) -> None:
        if text:
            self._target().append(Text(text))

    def tag(self, raw: str, inner: str) -> None:
        opening = SECTION_OPEN.fullmatch(inner)
        if opening:
            self._open(raw, opening.group(1))
        elif inner == SECTION_CLOSE:
            if self.section is None:
                self.problems.append("{{/if}} without an opening {{#if name}}")
            else:
                self.nodes.append(Section(self.section[0], tuple(self.section[1])))
                self.section = None
        elif NAME.fullmatch(inner):
            self._target().append(Placeholder(inner))
        else:
            self.problems.append(f"{raw} is not a placeholder: write {{{{ name }}}} with a plain name")

    def _open(self, raw: str, name: str) -> None:
        if self.section:
            self.problems.append(f"sections cannot nest: {raw} inside {{{{#if {self.section[0]}}}}}")
        elif not NAME.fullmatch(name):
            self.problems.append(f"{raw} does not name a variable (lowercase letters, digits, _)")
        else:
            self.section = (name, [])

    def finish(self) -> list[Node]:
        if self.section:
            self.problems.append(f"{{{{#if {self.section[0]}}}}} is never closed with {{{{/if}}}}")
        if self.problems:
            raise PromptSyntaxError(self.problems)
        return self.nodes


def parse(content: str) -> list[Node]:
    """Parse one message's text; raises PromptSyntaxError listing every problem found."""
    parser = _Parser()
    position = 0
    for match in TAG.finditer(content):
        parser.text(content[position : match.start()])
        parser.tag(match.group(0), match.group(1).strip())
        position = match.end()
    parser.text(content[position:])
    return parser.finish()


def names_used(nodes: Iterable[Node]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, Placeholder):
            names.add(node.name)
        elif isinstance(node, Section):
            names.add(node.name)
            names |= names_used(node.body)
    return names


# --- Validation when a version is saved ----------------------------------------------------------


def validate_variables(variables: Any) -> list[dict]:
    """Normalise declarations to [{"name", "description", "required"}]; raise on bad ones."""
    if not isinstance(variables, list):
        raise PromptSyntaxError(["variables must be a list"])
    problems, normalised, seen = [], [], set()
    for entry in variables:
        spec = {"name": entry} if isinstance(entry, str) else entry
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems.append(f"{entry!r} is not a valid variable name (lowercase letters, digits, _)")
            continue
        if name in seen:
            problems.append(f"variable {name} is declared twice")
            continue
        seen.add(name)
        normalised.append(
            {
                "name": name,
                "description": str(spec.get("description", "")).strip(),
                "required": bool(spec.get("required", True)),
            }
        )
    if problems:
        raise PromptSyntaxError(problems)
    return normalised


def validate_messages(messages: Any, variables: list[dict]) -> list[dict]:
    """Every message has a known role and text; every placeholder in it is declared."""
    if not isinstance(messages, list) or not messages:
        raise PromptSyntaxError(["a prompt needs at least one message"])
    declared = {variable["name"] for variable in variables}
    problems, normalised = [], []
    for index, message in enumerate(messages, start=1):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        where = f"message {index} ({role or '?'})"
        if role not in ROLES:
            problems.append(f"{where}: role must be one of {', '.join(ROLES)}")
        if not isinstance(content, str) or not content.strip():
            problems.append(f"{where}: the text is empty")
            continue
        try:
            used = names_used(parse(content))
        except PromptSyntaxError as exc:
            problems += [f"{where}: {problem}" for problem in exc.problems]
            continue
        problems += [
            f"{where}: {{{{ {name} }}}} is not a declared variable" for name in sorted(used - declared)
        ]
        normalised.append({"role": role, "content": content})
    if problems:
        raise PromptSyntaxError(problems)
    return normalised


# --- Rendering -----------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise TypeError
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "\n".join(f"- {_as_text(item)}" for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    raise TypeError


def _render_nodes(nodes: Iterable[Node], values: Mapping[str, str]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Placeholder):
            out.append(values.get(node.name, ""))
        elif values.get(node.name, "").strip():
            out.append(_render_nodes(node.body, values))
    return "".join(out)


def _check_names(version: PromptVersion, parsed: list[list[Node]], variables: Mapping[str, Any], label: str):
    declared = {spec["name"]: spec for spec in version.variables}
    used = set().union(*(names_used(nodes) for nodes in parsed))
    given = {name for name, value in variables.items() if value is not None}
    missing = {name for name, spec in declared.items() if spec.get("required", True) and name not in given}
    unknown = set(variables) - set(declared)
    undeclared = used - set(declared)
    if missing or unknown or undeclared:
        raise PromptRenderError(prompt=label, missing=missing, unknown=unknown, undeclared=undeclared)


def render_version(version: PromptVersion, variables: Mapping[str, Any]) -> list[Message]:
    """The version's chat messages with the variables filled in, ready for the gateway.

    Raises PromptRenderError naming the variables when a required one is missing (None counts as
    missing), an unknown one is passed, or the text uses one that is not declared.
    """
    label = f"{version.template.key} v{version.number}"
    try:
        parsed = [parse(message["content"]) for message in version.messages]
    except PromptSyntaxError as exc:
        raise PromptRenderError(prompt=label, detail=str(exc)) from exc
    _check_names(version, parsed, variables, label)
    values: dict[str, str] = {}
    invalid = set()
    for name, value in variables.items():
        if value is None:
            continue
        try:
            values[name] = _as_text(value)
        except TypeError:
            invalid.add(name)
    if invalid:
        raise PromptRenderError(prompt=label, invalid=invalid)
    return [
        Message(role=message["role"], content=_render_nodes(nodes, values))
        for message, nodes in zip(version.messages, parsed, strict=True)
    ]
