"""Text Maestro can store and send: the one check for every string that reaches storage or a provider.

PostgreSQL refuses NUL (U+0000) in text and in jsonb, and a lone UTF-16 surrogate (U+D800-U+DFFF, which
JSON's `\\ud800` escape can smuggle into a Python string) cannot be encoded as UTF-8 at all: either one
fails the insert *after* the work it records was done (a model call paid, a ledger charged). So input is
refused at the edge (api/validation.py for the APIs, the gateway for every call), and text that comes
from outside and must be kept (a web page, a webhook receiver's answer) is sanitised.

Nesting is bounded here too: a value nested deeper than `MAX_DEPTH` is refused before anything
recursive (serializers, `json.dumps`, PostgreSQL's jsonb) walks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH = 32


@dataclass(frozen=True)
class Problem:
    path: str  # where, e.g. "messages[0].content" ("" for the value itself)
    reason: str


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored or sent, or None."""
    match = UNSTORABLE.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return "contains a NUL character (U+0000)"
    return f"contains a lone surrogate (U+{ord(match.group()):04X}), which is not valid Unicode text"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def find_problem(value: object, *, max_depth: int = MAX_DEPTH) -> Problem | None:
    """A string (key or value) that cannot be stored, or nesting deeper than `max_depth`.

    Iterative, so a hostile depth cannot exhaust the stack while it is being checked.
    """
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            reason = text_problem(item)
            if reason:
                return Problem(path, reason)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return Problem(path, f"is nested more than {max_depth} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and (reason := text_problem(key)):
                        return Problem(_join(path, "(key)"), reason)
                    stack.append((child, _join(path, str(key)), depth + 1))
            else:
                stack.extend((child, _join(path, index), depth + 1) for index, child in enumerate(item))
    return None


def too_deep(value: object, *, max_depth: int = MAX_DEPTH) -> bool:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def sanitise(text: str) -> str:
    """`text` without NUL characters and with lone surrogates replaced by U+FFFD."""
    if UNSTORABLE.search(text) is None:
        return text
    return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def sanitise_value(value: object) -> object:
    """Every string inside a JSON-like value sanitised (for outside data that must be kept)."""
    if isinstance(value, str):
        return sanitise(value)
    if isinstance(value, dict):
        return {sanitise(str(k)): sanitise_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise_value(v) for v in value]
    return value


def sanitise_keys(value: object) -> object:
    """`value` with every dictionary key sanitised (values untouched). For keys a schema cannot
    constrain (OpenAPI 3.0 has no rule for property names): cleaned rather than refused."""
    if isinstance(value, dict):
        return {(sanitise(k) if isinstance(k, str) else k): sanitise_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise_keys(v) for v in value]
    return value
