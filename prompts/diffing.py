"""A readable diff between two prompt versions: model parameters, variables and each message."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from prompts.models import PromptVersion

CONTEXT_LINES = 4


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "hunk" | "context" | "added" | "removed"
    text: str


def version_as_lines(version: PromptVersion) -> list[str]:
    lines = [
        "## Model",
        f"tier: {version.tier}",
        f"temperature: {version.temperature}",
        f"max_tokens: {version.max_tokens}",
        "## Variables",
    ]
    for variable in version.variables:
        optional = "" if variable.get("required", True) else " (optional)"
        description = f": {variable['description']}" if variable.get("description") else ""
        lines.append(f"{variable['name']}{optional}{description}")
    for index, message in enumerate(version.messages, start=1):
        lines.append(f"## Message {index}: {message['role']}")
        lines += message["content"].splitlines() or [""]
    return lines


def version_diff(old: PromptVersion, new: PromptVersion) -> list[DiffLine]:
    """Unified diff from `old` to `new`; empty when the two say the same."""
    diff = difflib.unified_diff(version_as_lines(old), version_as_lines(new), lineterm="", n=CONTEXT_LINES)
    lines = []
    for raw in diff:
        if raw.startswith(("---", "+++")):
            continue
        if raw.startswith("@@"):
            lines.append(DiffLine("hunk", raw))
        elif raw.startswith("+"):
            lines.append(DiffLine("added", raw[1:]))
        elif raw.startswith("-"):
            lines.append(DiffLine("removed", raw[1:]))
        else:
            lines.append(DiffLine("context", raw[1:]))
    return lines
